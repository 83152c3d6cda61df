"""Correcting a story after it went out: the one path behind ``newsbot correct`` and ``PATCH /api/stories/{id}``.

The corrected text goes through the same intake as a new story (parsing, headline, summary); the story keeps its
id, and its topics unless new ones are given. In one transaction the version readers had is kept in
``story_versions``, the story becomes version + 1 with its "Corrected: ..." note, every Telegram copy already
sent (readers' chats and the outlet's channels) gets an edit queued in the outbox at breaking priority, with
``notify`` a short correction notice goes to each reader who got it (a reply in Telegram, a short mail by
email: emails cannot change), and the audit log records who changed what. Readers not reached yet simply get the
new version (the worker checks versions once per batch), and so do digests not sent yet.

Correcting with the text the story already has changes nothing and says so.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.app.errors import NewsbotError, StoryNotFound
from bot.app.newsroom import Newsroom
from bot.editors.audit import record_audit
from bot.stories.intake import prepare_for
from bot.stories.parsing import StoryDraft
from bot.stories.retraction import StoryRetracted
from bot.stories.story import Story
from subscribers import stories, story_changes, story_states
from subscribers.schema import ChannelName

log = logging.getLogger(__name__)


class StoryChangedMeanwhile(NewsbotError):
    """Another correction of the same story was saved while this one was prepared; nothing was changed."""


@dataclass(frozen=True, slots=True)
class CorrectionReport:
    story: Story
    #: False when the text was already the current version's: nothing was stored or queued.
    changed: bool
    #: The version readers had before (equal to ``story.version`` when nothing changed).
    previous_version: int
    #: Telegram copies queued for an edit in place: readers' chats and the outlet's channels.
    edits: int = 0
    channel_edits: int = 0
    #: Correction notices queued per channel (only with ``notify``).
    notices: dict[str, int] = field(default_factory=dict)

    @property
    def total_notices(self) -> int:
        return sum(self.notices.values())


async def correct_story(
    newsroom: Newsroom,
    story_id: str,
    draft: StoryDraft,
    *,
    actor: str,
    note: str | None = None,
    notify: bool = False,
    topics: Iterable[str] = (),
) -> CorrectionReport:
    """Replace the stored story's text with *draft*'s and queue edits of every copy already sent.

    *topics* (slugs, names or aliases), or topics in the draft's front matter, replace the story's topics;
    without them it keeps its own. Raises StoryNotFound, StoryRetracted, TopicNotFound, StoryRejected.
    """
    note = " ".join(note.split()) if note else None
    extra = list(topics)
    async with newsroom.reader.connect() as conn:
        current = await stories.load_story(conn, story_id, Story)
        state = await story_states.load_story_state(conn, story_id)
    if current is None or state is None:
        raise StoryNotFound(f"no story with id {story_id!r}")
    if state.retracted_at is not None:
        raise StoryRetracted(f"story {story_id} was retracted; a retracted story cannot be corrected")
    prepared = prepare_for(newsroom, draft, source=current.source or "cli", extra_topics=extra)
    new_topics = prepared.topics if (extra or draft.topics) else None
    url = prepared.url or current.url  # a correction that gives no link keeps the story's
    unchanged = (
        (prepared.title, prepared.body, prepared.summary, url)
        == (current.title, current.body, current.summary, current.url)
        and (note is None or note == current.correction_note)
        and (new_topics is None or tuple(new_topics) == current.topics)
    )
    if unchanged:
        return CorrectionReport(current, changed=False, previous_version=current.version)
    now = newsroom.clock.now()
    version = current.version + 1
    async with newsroom.engine.begin() as conn:
        saved = await story_changes.save_correction(
            conn,
            story_id,
            replaces_version=current.version,
            title=prepared.title,
            body=prepared.body,
            summary=prepared.summary,
            url=url,
            note=note,
            topics=new_topics,
            actor=actor,
            now=now,
        )
        if not saved:
            raise StoryChangedMeanwhile(f"story {story_id} was corrected by someone else just now; try again")
        edits = await story_changes.plan_edits(conn, story_id, version, now)
        channel_edits = await story_changes.queue_social_changes(conn, story_id, f"edit:{version}", now)
        notices = {channel.value: 0 for channel in ChannelName}
        if notify:
            notices = await story_changes.plan_correction_notices(conn, story_id, version, now)
        corrected = await stories.load_story(conn, story_id, Story)
        assert corrected is not None
        await record_audit(
            conn,
            actor=actor,
            action="correct",
            subject=story_id,
            recipients=edits + sum(notices.values()),
            details={
                "version": version,
                "note": note,
                "before": {"title": current.title, "summary": current.summary, "version": current.version},
                "after": {"title": corrected.title, "summary": corrected.summary, "topics": list(corrected.topics)},
                "edits": edits,
                "channel_edits": channel_edits,
                "notices": notices,
            },
            at=now,
        )
    log.info("correct by %s: %s v%d, %d edits, %d notices", actor, story_id, version, edits, sum(notices.values()))
    newsroom.notify_published()
    return CorrectionReport(corrected, True, current.version, edits, channel_edits, notices)
