"""Stories as the public web side shows them: one story's page, a topic's archive and its Atom feed.

A story is *published* once its embargo has lifted (``publish_at`` at or before *now*, or none) — before that it
does not exist for the public, whatever its id. A retracted story keeps its page (a withdrawal notice); archives
and feeds leave it out, and, as the weekly digest does, a story whose send an editor stopped. *now* comes from
the caller's injectable clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.database import view_of
from subscribers.schema import stories, story_topics
from subscribers.stories import topics_of_stories

#: When a story reached the public: its embargo, else when it was stored.
_published = func.coalesce(stories.c.publish_at, stories.c.created_at)


@dataclass(frozen=True, slots=True)
class PublishedStory:
    """A story as its public page shows it: the current version, its topics and what happened to it since."""

    id: str
    title: str
    body: str
    summary: str
    url: str | None
    author: str | None
    breaking: bool
    published_at: datetime
    version: int
    #: The latest correction's note (or the withdrawal note, once retracted).
    correction_note: str | None
    corrected_at: datetime | None
    retracted_at: datetime | None
    topics: tuple[str, ...]
    #: The story's picture (an http(s) URL) and its alt text, if it has one.
    image_url: str | None
    image_alt: str | None
    #: The language it is written in ("de"), the ``lang`` of its page's text; None for stories stored before.
    language: str | None = None

    @property
    def updated_at(self) -> datetime:
        """When its public text last changed: the latest correction, else its publication."""
        return self.corrected_at or self.published_at


def _is_public(now: datetime) -> ColumnElement[bool]:
    return _published <= now


def _story_of(row: Row[Any], topics: tuple[str, ...]) -> PublishedStory:
    # ``published_at`` is when it reached the public, not the column of that name (when the outlet first ran it).
    return view_of(PublishedStory, row, topics=topics, published_at=row._mapping["published"])


async def load_published_story(conn: AsyncConnection, story_id: str, now: datetime) -> PublishedStory | None:
    """The story if it is published by *now* (retracted ones too: their page says so), else None."""
    query = select(stories, _published.label("published")).where(stories.c.id == story_id, _is_public(now))
    row = (await conn.execute(query)).one_or_none()
    if row is None:
        return None
    return _story_of(row, (await topics_of_stories(conn, [story_id]))[story_id])


def _in_archive(topic: str, now: datetime) -> ColumnElement[bool]:
    tagged = select(story_topics.c.story_id).where(story_topics.c.topic == topic)
    return and_(
        stories.c.id.in_(tagged),
        _is_public(now),
        stories.c.retracted_at.is_(None),
        stories.c.stopped_at.is_(None),
    )


async def count_topic_stories(conn: AsyncConnection, topic: str, now: datetime) -> int:
    """How many stories the topic's archive holds at *now*."""
    query = select(func.count()).select_from(stories).where(_in_archive(topic, now))
    return int((await conn.execute(query)).scalar_one())


async def list_topic_stories(
    conn: AsyncConnection, topic: str, now: datetime, *, limit: int, offset: int = 0
) -> list[PublishedStory]:
    """One page of the topic's archive, newest first (ties by id, so pages never overlap)."""
    query = (
        select(stories, _published.label("published"))
        .where(_in_archive(topic, now))
        .order_by(_published.desc(), stories.c.id)
        .limit(limit)
        .offset(offset)
    )
    rows = list(await conn.execute(query))
    topics = await topics_of_stories(conn, [row.id for row in rows])
    return [_story_of(row, topics[row.id]) for row in rows]
