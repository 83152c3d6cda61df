"""Stored stories: saving one once, loading it back, the newest ones, a week's worth for the digest, and topics
added before it goes out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy import ColumnElement, case, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.database import CHUNK, columns_for, insert_ignoring_conflicts, select_views, view_of
from subscribers.schema import stories, story_topics


class StoryFields(Protocol):
    """What the store keeps of a story: the product's story value has these attributes, and is passed as it is."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def body(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def topics(self) -> tuple[str, ...]: ...
    @property
    def url(self) -> str | None: ...
    @property
    def breaking(self) -> bool: ...
    @property
    def author(self) -> str | None: ...
    @property
    def published(self) -> datetime | None: ...
    @property
    def source(self) -> str | None: ...
    @property
    def external_id(self) -> str | None: ...
    @property
    def publish_at(self) -> datetime | None: ...
    @property
    def updates(self) -> str | None: ...
    @property
    def version(self) -> int: ...
    @property
    def correction_note(self) -> str | None: ...
    @property
    def image_url(self) -> str | None: ...
    @property
    def image_alt(self) -> str | None: ...
    @property
    def language(self) -> str | None: ...


def status_if_still_stopped(story_id: ColumnElement[str]) -> ColumnElement[str]:
    """'stopped' while the story is still stopped, else 'pending': how a worker records a message it skipped because
    the story was stopped, so that a resume committed meanwhile is not undone (the message is then sent).

    On PostgreSQL the lookup takes a share lock on the story: it waits for a resume in progress to commit and then
    reads its result, and a resume waits for it in turn, so the stopped row is always seen by the resume's update.
    """
    still_stopped = (
        select(stories.c.id)
        .where(stories.c.id == story_id, stories.c.stopped_at.is_not(None))
        .with_for_update(read=True)
    )
    return case((exists(still_stopped), "stopped"), else_="pending")


#: The caller's story type, built by keyword from the fields of :class:`StoryFields` (the store knows no class).
S = TypeVar("S")

#: The columns of ``stories`` that hold a field of :class:`StoryFields`, and that field's name.
_STORED_AS = {
    "id": "id",
    "title": "title",
    "body": "body",
    "summary": "summary",
    "url": "url",
    "breaking": "breaking",
    "author": "author",
    "published_at": "published",
    "source": "source",
    "external_id": "external_id",
    "publish_at": "publish_at",
    "updates_story_id": "updates",
    "version": "version",
    "correction_note": "correction_note",
    "image_url": "image_url",
    "image_alt": "image_alt",
    "language": "language",
}


async def save_story(conn: AsyncConnection, story: StoryFields, now: datetime) -> bool:
    """Store a story once; returns False when a story with the same id was already there (a duplicate ingest)."""
    values = {column: getattr(story, name) for column, name in _STORED_AS.items()}
    result = await conn.execute(insert_ignoring_conflicts(conn, stories).values(**values, created_at=now))
    if result.rowcount == 0:
        return False
    if story.topics:
        await conn.execute(
            story_topics.insert(),
            [{"story_id": story.id, "topic": t, "position": i} for i, t in enumerate(story.topics)],
        )
    return True


async def load_story(conn: AsyncConnection, story_id: str, story_type: Callable[..., S]) -> S | None:
    """The stored story as a *story_type* (called with the fields of :class:`StoryFields` by keyword), or None."""
    row = (await conn.execute(select(stories).where(stories.c.id == story_id))).one_or_none()
    if row is None:
        return None
    topics = (
        await conn.execute(
            select(story_topics.c.topic).where(story_topics.c.story_id == story_id).order_by(story_topics.c.position)
        )
    ).scalars()
    return story_type(topics=tuple(topics), **{name: row._mapping[column] for column, name in _STORED_AS.items()})


async def load_story_by_external_id(conn: AsyncConnection, external_id: str, story_type: Callable[..., S]) -> S | None:
    """The story a caller (a CMS, the API) stored under its own id, if any."""
    story_id = (
        await conn.execute(select(stories.c.id).where(stories.c.external_id == external_id))
    ).scalar_one_or_none()
    return None if story_id is None else await load_story(conn, story_id, story_type)


async def story_exists(conn: AsyncConnection, story_id: str) -> bool:
    """Whether a story with this id is stored (without loading it)."""
    found = await conn.execute(select(stories.c.id).where(stories.c.id == story_id))
    return found.one_or_none() is not None


async def add_story_topics(conn: AsyncConnection, story_id: str, topics: Sequence[str]) -> list[str]:
    """Give the story these topics too, after the ones it has; returns those it did not have, in order.

    For `newsbot retag` and the API's story topics, before the story has gone out.
    """
    query = select(story_topics.c.topic, story_topics.c.position).where(story_topics.c.story_id == story_id)
    rows = list(await conn.execute(query))
    have = {row.topic for row in rows}
    added = [topic for topic in dict.fromkeys(topics) if topic not in have]
    start = max((row.position for row in rows), default=-1) + 1
    if added:
        await conn.execute(
            story_topics.insert(),
            [{"story_id": story_id, "topic": topic, "position": start + i} for i, topic in enumerate(added)],
        )
    return added


@dataclass(frozen=True, slots=True)
class RecentStory:
    """A stored story in a list of the newest ones: enough to name it, not to render it."""

    id: str
    title: str
    breaking: bool
    source: str | None
    created_at: datetime


async def list_recent_stories(conn: AsyncConnection, limit: int = 5) -> list[RecentStory]:
    newest_first = [stories.c.created_at.desc(), stories.c.id]
    return await select_views(conn, RecentStory, stories, order_by=newest_first, limit=limit)


@dataclass(frozen=True, slots=True)
class DigestStory:
    id: str
    title: str
    summary: str
    url: str | None
    breaking: bool
    created_at: datetime
    topics: tuple[str, ...]
    #: The language it is written in; None for stories stored before stories had one (they reach every reader).
    language: str | None = None


async def load_week_stories(conn: AsyncConnection, start: datetime, end: datetime) -> list[DigestStory]:
    """The stories published in [start, end) with their topics, newest first.

    A story is published when its embargo lifts (``publish_at``), else when it was stored; one stopped or
    retracted is left out.
    """
    published = func.coalesce(stories.c.publish_at, stories.c.created_at)
    rows = list(
        await conn.execute(
            select(*columns_for(DigestStory, stories))
            .where(
                published >= start,
                published < end,
                stories.c.stopped_at.is_(None),
                stories.c.retracted_at.is_(None),
            )
            .order_by(published.desc(), stories.c.id)
        )
    )
    topics = await topics_of_stories(conn, [row.id for row in rows])
    return [view_of(DigestStory, row, topics=topics[row.id]) for row in rows]


async def topics_of_stories(conn: AsyncConnection, story_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Each story's topics in their order, a chunk of ids per query (an id without topics maps to ``()``)."""
    found: dict[str, list[str]] = {story_id: [] for story_id in story_ids}
    ids = list(found)
    for begin in range(0, len(ids), CHUNK):
        for story_id, topic in await conn.execute(
            select(story_topics.c.story_id, story_topics.c.topic)
            .where(story_topics.c.story_id.in_(ids[begin : begin + CHUNK]))
            .order_by(story_topics.c.story_id, story_topics.c.position)
        ):
            found[story_id].append(topic)
    return {story_id: tuple(topics) for story_id, topics in found.items()}
