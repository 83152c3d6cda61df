"""From a draft to a stored story with its deliveries planned: the one path every intake (CLI, bot, API, feeds)
goes through, so a story is parsed, tagged and deduplicated the same way wherever it comes from."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.app.config import Settings
from bot.app.errors import StoryRejected
from bot.app.newsroom import Newsroom
from bot.stories.parsing import StoryDraft
from bot.stories.story import Story
from bot.stories.summarising import derive_headline, paragraphs_of, sentences, strip_sign_off, summarise
from bot.topics.tagging import TopicTagger
from bot.topics.taxonomy import Taxonomy
from subscribers import queries
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


def story_id_for(draft: StoryDraft) -> str:
    """The stable id: front matter ``id``, else a hash of the URL, else a hash of the normalised text."""
    if draft.id:
        return draft.id
    if draft.url:
        return "u" + hashlib.sha256(draft.url.encode()).hexdigest()[:24]
    normalised = " ".join(unicodedata.normalize("NFKC", draft.body).casefold().split())
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
    if not title:
        lead = sentences(paragraphs[0])
        title = derive_headline(lead[0] if lead else paragraphs[0])
    topics = tagger.tag(title, "\n".join(paragraphs), given=given)
    return Story(
        id=story_id_for(draft),
        title=title,
        body=draft.body,
        summary=summarise(paragraphs, settings.summary_chars),
        topics=tuple(topics),
        url=draft.url,
        breaking=draft.breaking or breaking,
        author=draft.author,
        published=draft.published,
        given_topics=tuple(given),
        source=source,
        external_id=external_id,
    )


async def ingest_story(
    newsroom: Newsroom, story: Story, *, dry_run: bool = False, also: AlsoOnCreate | None = None
) -> IngestResult:
    """Store the story and queue it for its readers in one transaction; a duplicate changes nothing.

    *also* runs inside that transaction when the story is new (queue social posts, write the audit entry), so
    either all of it is stored or none of it.
    """
    now = datetime.now(UTC)
    if dry_run:
        async with newsroom.reader.connect() as conn:
            existing = await queries.load_story(conn, story.id)
            if existing is None and story.external_id:
                existing = await queries.load_story_by_external_id(conn, story.external_id)
            audience = await queries.count_story_audience(conn, story.topics, story.breaking)
        return IngestResult(story=existing or story, created=existing is None, recipients=audience, dry_run=True)
    async with newsroom.engine.begin() as conn:
        created = await queries.save_story(conn, story, now)
        if not created:
            # The same id, or the same external id under another id (the caller re-sent an edited story).
            stored = await queries.load_story(conn, story.id)
            if stored is None and story.external_id:
                stored = await queries.load_story_by_external_id(conn, story.external_id)
            return IngestResult(story=stored or story, created=False, recipients={c.value: 0 for c in ChannelName})
        await queries.plan_story_deliveries(conn, story, now)
        recipients = await queries.count_story_deliveries(conn, story.id)
        result = IngestResult(story=story, created=True, recipients=recipients)
        if also is not None:
            await also(conn, result)
    return result
