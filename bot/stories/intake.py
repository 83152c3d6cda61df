"""Intake: the one path a story takes into the newsroom, whatever the door (CLI, Telegram desk, API, feeds, demo).

:func:`prepare_story` turns a parsed draft into a :class:`Story` (title, summary, topics, stable id); doors call
it as :func:`prepare_for`, with their newsroom's settings, taxonomy and tagger (doors that serve inside ``newsbot run``
as :func:`prepare_off_loop`, which does the same work in the parsing process). :func:`publish_story` stores it,
plans its reader deliveries, queues its social posts and writes the audit entry in one transaction, then wakes
the senders. Retagging (:mod:`bot.stories.retagging`) reuses the same pieces
(:func:`plan_readers`, :func:`queue_social_and_audit`), so a story's readers, posts and audit trail are produced
the same way whether it came in new or got topics later.
"""

from __future__ import annotations

import dataclasses
import hashlib
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypedDict

from sqlalchemy.ext.asyncio import AsyncConnection
from typing_extensions import Unpack

from bot.app.config import Settings
from bot.app.cpu_pool import off_loop
from bot.app.errors import StoryNotFound, StoryRejected
from bot.app.newsroom import Newsroom
from bot.editors.audit import record_audit
from bot.outbox.reader_hours import fit_story_to_readers
from bot.outbox.social import queue_social_posts
from bot.stories.parsing import StoryDraft
from bot.stories.story import Story
from bot.stories.summarising import (
    headline_from_lead,
    paragraphs_of,
    plain_text_of,
    strip_sign_off,
    summarise,
)
from bot.topics.distribution import Destination, Distribution
from bot.topics.tagging import TopicTagger
from bot.topics.taxonomy import Taxonomy
from subscribers import deliveries, stories, story_changes
from subscribers.schema import ChannelName


@dataclass(frozen=True, slots=True)
class IngestResult:
    story: Story
    #: False when the story was already there: nothing new was stored or queued.
    created: bool
    #: Readers per channel: newly queued deliveries, or on a dry run, those who would get it.
    recipients: dict[str, int]
    dry_run: bool = False


#: Extra work done in the ingest transaction of a new story.
AlsoOnCreate = Callable[[AsyncConnection, IngestResult], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Publication:
    """The ingest result plus where the story will be posted on social networks."""

    ingested: IngestResult
    social: list[Destination] = field(default_factory=list)

    @property
    def story(self) -> Story:
        return self.ingested.story

    @property
    def created(self) -> bool:
        return self.ingested.created

    @property
    def recipients(self) -> dict[str, int]:
        return self.ingested.recipients

    @property
    def total_recipients(self) -> int:
        return sum(self.ingested.recipients.values())


def story_id_for(draft: StoryDraft) -> str:
    """The stable id: front matter ``id``, else a hash of the URL, else a hash of the normalised text."""
    if draft.id:
        return draft.id
    if draft.url:
        return "u" + hashlib.sha256(draft.url.encode()).hexdigest()[:24]
    # The text a reader reads, not its markup: the same story with a link added or written in HTML instead of
    # Markdown is still the same story.
    normalised = " ".join(unicodedata.normalize("NFKC", plain_text_of(draft.body)).casefold().split())
    return "t" + hashlib.sha256(normalised.encode()).hexdigest()[:24]


def prepare_story(
    draft: StoryDraft,
    *,
    settings: Settings,
    taxonomy: Taxonomy,
    tagger: TopicTagger,
    extra_topics: Iterable[str] = (),
    breaking: bool = False,
    source: str | None = None,
    external_id: str | None = None,
) -> Story:
    """Title, summary and topics for a draft; editor-given topics must exist (TopicNotFound otherwise)."""
    given = taxonomy.resolve_all([*draft.topics, *extra_topics])
    paragraphs = strip_sign_off(paragraphs_of(draft.body), settings.outlet_name)
    if not paragraphs:
        raise StoryRejected("story has no text")
    title = draft.title or draft.heading
    summary, derived = None, None
    if not title:
        lead = headline_from_lead(paragraphs, settings.summary_chars)  # its summary starts after the headline
        title = derived = lead.headline
        summary = lead.summary
    topics = tagger.tag(title, plain_text_of("\n\n".join(paragraphs)), given=given)  # words, not link URLs
    return Story(
        id=story_id_for(draft),
        title=title,
        body=draft.body,
        summary=summarise(paragraphs, settings.summary_chars) if summary is None else summary,
        topics=tuple(topics),
        url=draft.url,
        breaking=draft.breaking or breaking,
        author=draft.author,
        published=draft.published,
        given_topics=tuple(given),
        source=source,
        external_id=external_id,
        publish_at=draft.publish_at,
        updates=draft.updates,
        image_url=draft.image_url,
        image_alt=draft.image_alt,
        language=draft.language or settings.default_language,
        derived_headline=derived,
    )


class StoryOptions(TypedDict, total=False):
    """What a door may say about a draft besides its text: the keyword arguments of :func:`prepare_story`."""

    extra_topics: Iterable[str]
    breaking: bool
    external_id: str | None


def prepare_for(newsroom: Newsroom, draft: StoryDraft, *, source: str, **options: Unpack[StoryOptions]) -> Story:
    """:func:`prepare_story` with the newsroom's settings, taxonomy and tagger: what every door calls."""
    return prepare_story(
        draft, settings=newsroom.settings, taxonomy=newsroom.taxonomy, tagger=newsroom.tagger, source=source, **options
    )


async def prepare_off_loop(
    newsroom: Newsroom, draft: StoryDraft, *, source: str, **options: Unpack[StoryOptions]
) -> Story:
    """:func:`prepare_for` in the parsing process: pysbd and the tagger take 11-47 ms a story, too long for the loop
    that also sends, so doors serving many stories a second (the stories API, Ghost) await it instead."""
    if "extra_topics" in options:
        options["extra_topics"] = list(options["extra_topics"])  # a generator does not pickle
    return await off_loop(
        prepare_story,
        draft,
        settings=newsroom.settings,
        taxonomy=newsroom.taxonomy,
        tagger=newsroom.tagger,
        source=source,
        **options,
    )


def action_for(story: Story) -> str:
    """The audit action: a breaking story is a push, anything else a story."""
    return "push" if story.breaking else "story"


def distribution_for(newsroom: Newsroom, distribution: Distribution | None) -> Distribution:
    """The caller's distribution (a test's, say), else the newsroom's (the desk's, or the files')."""
    return distribution if distribution is not None else newsroom.distribution


async def plan_readers(
    conn: AsyncConnection,
    story: Story,
    now: datetime,
    settings: Settings,
    *,
    already: dict[str, int] | None = None,
) -> dict[str, int]:
    """Queue *story* for every follower not queued yet (the one planning statement); newly queued per channel.

    Readers in their quiet hours get it when those end (breaking news only if they chose so). *already* is the
    per-channel count queued before (None for a new story, which has none).
    """
    await deliveries.plan_story_deliveries(conn, story, now)
    if story.updates is not None:
        # A follow-up also reaches everyone who got the story it updates, whatever they follow.
        not_before = story.publish_at if story.publish_at is not None and story.publish_at > now else now
        await story_changes.plan_follow_up(
            conn,
            story.id,
            story.updates,
            breaking=story.breaking,
            not_before=not_before,
            now=now,
            language=story.language,
        )
    await fit_story_to_readers(conn, deliveries.story_item_key(story.id), settings, now, breaking=story.breaking)
    after = await deliveries.count_story_deliveries(conn, story.id)
    before = already or {}
    return {channel: count - before.get(channel, 0) for channel, count in after.items()}


async def queue_social_and_audit(
    conn: AsyncConnection,
    story: Story,
    now: datetime,
    *,
    distribution: Distribution,
    actor: str,
    action: str,
    recipients: dict[str, int],
    details: dict[str, object],
) -> int:
    """Queue the story's social posts and audit who did it, with the readers queued; the posts queued."""
    queued = await queue_social_posts(conn, distribution, story, now)
    await record_audit(
        conn,
        actor=actor,
        action=action,
        subject=story.id,
        recipients=sum(recipients.values()),
        details={**details, "recipients": recipients, "social_posts": queued},
        at=now,
    )
    return queued


def at_once_if_past(story: Story, now: datetime) -> Story:
    """An embargo already over means at once: the story is stored without one (and counts in this week)."""
    if story.publish_at is not None and story.publish_at <= now:
        return dataclasses.replace(story, publish_at=None)
    return story


async def check_updated_story(conn: AsyncConnection, story: Story) -> None:
    """A follow-up (``updates``) must name another stored story: StoryNotFound otherwise."""
    if story.updates is None:
        return
    if story.updates == story.id or not await stories.story_exists(conn, story.updates):
        raise StoryNotFound(
            f"updates: no stored story with id {story.updates!r} to follow up"
            if story.updates != story.id
            else f"updates: story {story.id} cannot follow up itself"
        )


async def ingest_story(
    newsroom: Newsroom, story: Story, *, dry_run: bool = False, also: AlsoOnCreate | None = None
) -> IngestResult:
    """Store the story and plan its reader deliveries in one transaction; a duplicate changes nothing.

    The storing step of :func:`publish_story`, which every door calls; *also* runs inside that transaction when
    the story is new (there: queue social posts, write the audit entry), so either all of it is stored or none.
    """
    now = newsroom.clock.now()
    story = at_once_if_past(story, now)
    if dry_run:
        async with newsroom.reader.connect() as conn:
            await check_updated_story(conn, story)
            existing = await stories.load_story(conn, story.id, Story)
            if existing is None and story.external_id:
                existing = await stories.load_story_by_external_id(conn, story.external_id, Story)
            audience = await deliveries.count_story_audience(conn, story.topics, story.breaking, story.language)
        return IngestResult(story=existing or story, created=existing is None, recipients=audience, dry_run=True)
    async with newsroom.engine.begin() as conn:
        await check_updated_story(conn, story)
        created = await stories.save_story(conn, story, now)
        if not created:
            # The same id, or the same external id under another id (the caller re-sent an edited story).
            stored = await stories.load_story(conn, story.id, Story)
            if stored is None and story.external_id:
                stored = await stories.load_story_by_external_id(conn, story.external_id, Story)
            return IngestResult(story=stored or story, created=False, recipients={c.value: 0 for c in ChannelName})
        recipients = await plan_readers(conn, story, now, newsroom.settings)
        result = IngestResult(story=story, created=True, recipients=recipients)
        if also is not None:
            await also(conn, result)
    return result


async def publish_story(
    newsroom: Newsroom,
    story: Story,
    *,
    actor: str,
    distribution: Distribution | None = None,
    dry_run: bool = False,
) -> Publication:
    """Store *story*, queue it for readers and social networks, audit who did it and wake the senders.

    A duplicate is audited (``story.duplicate`` / ``push.duplicate``) but changes nothing else; a dry run
    stores nothing and counts who would get it.
    """
    distribution = distribution_for(newsroom, distribution)
    destinations = distribution.for_story(story)
    if dry_run:
        return Publication(await ingest_story(newsroom, story, dry_run=True), destinations)

    async def social_and_audit(conn: AsyncConnection, result: IngestResult) -> None:
        await queue_social_and_audit(
            conn,
            result.story,
            newsroom.clock.now(),
            distribution=distribution,
            actor=actor,
            action=action_for(result.story),
            recipients=result.recipients,
            details={
                "title": result.story.title,
                "topics": list(result.story.topics),
                "breaking": result.story.breaking,
                "source": result.story.source,
                "publish_at": result.story.publish_at.isoformat() if result.story.publish_at else None,
            },
        )

    result = await ingest_story(newsroom, story, also=social_and_audit)
    if not result.created:
        async with newsroom.engine.begin() as conn:
            await record_audit(
                conn,
                actor=actor,
                action=f"{action_for(story)}.duplicate",
                subject=result.story.id,
                recipients=0,
                details={"title": result.story.title, "source": story.source},
                at=newsroom.clock.now(),
            )
        return Publication(result, [])
    newsroom.notify_published()
    return Publication(result, destinations)
