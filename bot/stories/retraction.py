"""Retracting a story: the one path behind ``newsbot retract`` and ``DELETE /api/stories/{id}``.

In one transaction the story is marked retracted (every worker stops sending it, the weekly digest leaves it
out), whatever of it was still queued (deliveries, edits, notices, social posts) is cancelled, and each Telegram
copy already sent is dealt with through the outbox: deleted when younger than the 48 hours in which Telegram lets
a bot delete it (by its ``sent_at``, on the newsroom's clock), else replaced by a short withdrawal notice; the same
for the outlet's channel posts. Emails cannot be taken back. Retracting twice changes nothing the second time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from bot.app.errors import NewsbotError, StoryNotFound
from bot.app.newsroom import Newsroom
from bot.editors.audit import record_audit
from bot.stories.story import Story
from subscribers import stories, story_changes

log = logging.getLogger(__name__)

#: How long after sending Telegram lets a bot delete a message for everyone.
DELETE_WINDOW = timedelta(hours=48)


class StoryRetracted(NewsbotError):
    """The story was retracted: it can no longer be corrected or sent."""


@dataclass(frozen=True, slots=True)
class RetractionReport:
    story: Story
    #: False when it had been retracted already: nothing changed.
    retracted: bool
    #: Deliveries and social posts that had not gone out and never will.
    cancelled_deliveries: int = 0
    cancelled_posts: int = 0
    #: Readers' Telegram copies queued for deletion, and older ones for the withdrawal notice.
    deleted: int = 0
    withdrawn: int = 0
    #: The same for the outlet's channel posts.
    channel_deleted: int = 0
    channel_withdrawn: int = 0


async def retract_story(newsroom: Newsroom, story_id: str, *, actor: str, note: str | None = None) -> RetractionReport:
    """Withdraw the story everywhere it can be withdrawn; raises StoryNotFound."""
    note = " ".join(note.split()) if note else None
    now = newsroom.clock.now()
    cutoff = now - DELETE_WINDOW
    async with newsroom.engine.begin() as conn:
        story = await stories.load_story(conn, story_id, Story)
        if story is None:
            raise StoryNotFound(f"no story with id {story_id!r}")
        if not await story_changes.mark_retracted(conn, story_id, note, now):
            return RetractionReport(story, retracted=False)
        cancelled, posts = await story_changes.cancel_queued(conn, story_id, "story retracted", now)
        deleted, withdrawn = await story_changes.plan_removals(conn, story_id, cutoff, now)
        channel_deleted = await story_changes.queue_social_changes(conn, story_id, "delete", now, sent_since=cutoff)
        channel_withdrawn = await story_changes.queue_social_changes(
            conn, story_id, "withdraw", now, sent_before=cutoff
        )
        report = RetractionReport(story, True, cancelled, posts, deleted, withdrawn, channel_deleted, channel_withdrawn)
        await record_audit(
            conn,
            actor=actor,
            action="retract",
            subject=story_id,
            recipients=deleted + withdrawn,
            details={
                "title": story.title,
                "note": note,
                "before": {"version": story.version, "queued": cancelled, "social_queued": posts},
                "after": {"retracted_at": now.isoformat()},
                "deleted": deleted,
                "withdrawn": withdrawn,
                "channel_deleted": channel_deleted,
                "channel_withdrawn": channel_withdrawn,
            },
            at=now,
        )
    log.info("retract by %s: %s, %d deleted, %d withdrawn", actor, story_id, deleted, withdrawn)
    newsroom.notify_published()
    return report
