"""Adding topics to a stored story before it goes out, e.g. one stored with no topic (which nobody receives).

Every door (``newsbot retag``, ``newsbot ingest --retag``, ``PUT /api/stories/{id}/topics``) calls
:func:`retag_story`. The new topics' followers are planned exactly as at ingest (the one planning statement, so
readers already queued are not queued twice), the story's social posts for the new topics are queued and the
change is audited as ``retag``, all in one transaction, with the pieces of :mod:`bot.stories.intake`; then the
senders are woken. Once any reader has received the story it is refused: readers would get it twice, or with
different topics from those it was sent with.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from bot.app.errors import StoryAlreadySent, StoryNotFound
from bot.app.newsroom import Newsroom
from bot.stories.intake import distribution_for, plan_readers, queue_social_and_audit
from bot.stories.story import Story
from bot.topics.distribution import Distribution
from subscribers import deliveries, stories
from subscribers.schema import ChannelName
from subscribers.status import count_sent_deliveries
from subscribers.stories import add_story_topics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetagResult:
    story: Story
    #: Topics the story did not have before (empty: it already had them all, nothing changed).
    added: tuple[str, ...]
    #: Readers newly queued per channel.
    recipients: dict[str, int]
    social_posts: int

    @property
    def total_recipients(self) -> int:
        return sum(self.recipients.values())


def no_topic_warning(story: Story, remedy: str | None = None) -> str | None:
    """The warning every door gives for a story stored (or about to be) without a topic, None when it has one.

    *remedy* says how to add one through that door (default: the command line's).
    """
    if story.topics:
        return None
    remedy = remedy or f"`newsbot retag {story.id} --topic SLUG`"
    return f"story {story.id} has no topic: nobody will receive it; add one with {remedy} before it goes out"


async def retag_story(
    newsroom: Newsroom,
    story_id: str,
    topics: Iterable[str],
    *,
    actor: str,
    distribution: Distribution | None = None,
) -> RetagResult:
    """Add *topics* (slugs, names or aliases) to the stored story and queue it for their followers.

    Raises TopicNotFound, StoryNotFound, or StoryAlreadySent once any delivery of the story was sent.
    """
    slugs = newsroom.taxonomy.resolve_all(topics)
    distribution = distribution_for(newsroom, distribution)
    now = newsroom.clock.now()
    async with newsroom.engine.begin() as conn:
        story = await stories.load_story(conn, story_id, Story)
        if story is None:
            raise StoryNotFound(f"no story with id {story_id!r}")
        sent = await count_sent_deliveries(conn, story_id)
        if sent:
            raise StoryAlreadySent(
                f"story {story_id} has already gone out to {sent} reader{'s' if sent != 1 else ''}; "
                "topics can only be added before it is sent"
            )
        added = await add_story_topics(conn, story_id, slugs)
        story = dataclasses.replace(story, topics=(*story.topics, *added))
        if not added:
            return RetagResult(story, (), {channel.value: 0 for channel in ChannelName}, 0)
        before = await deliveries.count_story_deliveries(conn, story_id)
        recipients = await plan_readers(conn, story, now, newsroom.settings, already=before)
        social = await queue_social_and_audit(
            conn,
            story,
            now,
            distribution=distribution,
            actor=actor,
            action="retag",
            recipients=recipients,
            details={"title": story.title, "added": list(added), "topics": list(story.topics)},
        )
    log.info("retag by %s: %s +%s", actor, story_id, ",".join(added))
    newsroom.notify_published()
    return RetagResult(story, tuple(added), recipients, social)
