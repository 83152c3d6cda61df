"""Topics and social destinations as admins edit them on the desk, and the version counter that tells every
process to read them again.

Until the desk changes either, nothing is here and the files (the topics file, ``NEWSBOT_DISTRIBUTION_FILE``) are
what every process uses, as before. The first change copies the files in (:func:`take_over`), and from then on
these rows are the taxonomy and the distribution. Lists of words and slugs are kept as JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.schema import desk_topics, follows, social_destinations, topic_settings_versions

VERSION_ROW = "topics"


@dataclass(frozen=True, slots=True)
class TopicRow:
    slug: str
    name: str
    description: str
    keywords: tuple[str, ...]
    aliases: tuple[str, ...]
    retired_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DestinationRow:
    id: int
    key: str
    target: str
    topics: tuple[str, ...]
    enabled: bool


async def settings_version(conn: AsyncConnection) -> int | None:
    """The version of the desk's topics and destinations; None while the files are still what counts."""
    query = select(topic_settings_versions.c.version).where(topic_settings_versions.c.name == VERSION_ROW)
    return (await conn.execute(query)).scalar_one_or_none()


async def take_over(
    conn: AsyncConnection,
    topics: Sequence[TopicRow],
    destinations: Sequence[tuple[str, str, Sequence[str]]],
    at: datetime,
) -> bool:
    """Copy the files' topics and (key, target, topics) destinations in, once: False when the store has them."""
    if await settings_version(conn) is not None:
        return False
    await conn.execute(topic_settings_versions.insert().values(name=VERSION_ROW, version=0, updated_at=at))
    for position, topic in enumerate(topics):
        await conn.execute(desk_topics.insert().values(**_topic_values(topic), position=position))
    for key, target, slugs in destinations:
        await conn.execute(
            social_destinations.insert().values(
                key=key, target=target, topics=json.dumps(list(slugs)), enabled=True, created_at=at
            )
        )
    return True


async def bump_version(conn: AsyncConnection, at: datetime) -> None:
    """One change more: every process reads the topics and destinations again at its next look."""
    await conn.execute(
        update(topic_settings_versions)
        .where(topic_settings_versions.c.name == VERSION_ROW)
        .values(version=topic_settings_versions.c.version + 1, updated_at=at)
    )


def _topic_values(topic: TopicRow) -> dict[str, object]:
    return {
        "slug": topic.slug,
        "name": topic.name,
        "description": topic.description,
        "keywords": json.dumps(list(topic.keywords), ensure_ascii=False),
        "aliases": json.dumps(list(topic.aliases), ensure_ascii=False),
        "retired_at": topic.retired_at,
    }


async def list_topics(conn: AsyncConnection) -> list[TopicRow]:
    """Every topic, retired ones too, in the order readers see them."""
    rows = await conn.execute(select(desk_topics).order_by(desk_topics.c.position, desk_topics.c.slug))
    return [
        TopicRow(
            r.slug, r.name, r.description, tuple(json.loads(r.keywords)), tuple(json.loads(r.aliases)), r.retired_at
        )
        for r in rows
    ]


async def add_topic(conn: AsyncConnection, topic: TopicRow) -> None:
    """A new topic, last in the list (the caller checked its slug is free)."""
    last = (await conn.execute(select(func.max(desk_topics.c.position)))).scalar_one_or_none()
    await conn.execute(desk_topics.insert().values(**_topic_values(topic), position=(last or 0) + 1))


async def update_topic(conn: AsyncConnection, topic: TopicRow) -> None:
    """A topic's name, description, words and retirement as given; its slug (what follows point at) stays."""
    values = _topic_values(topic)
    del values["slug"]
    await conn.execute(update(desk_topics).where(desk_topics.c.slug == topic.slug).values(values))


async def follower_count(conn: AsyncConnection, slug: str) -> int:
    """Readers who follow *slug*: what retiring it would leave without stories of it."""
    query = select(func.count()).select_from(follows).where(follows.c.topic == slug)
    return int((await conn.execute(query)).scalar_one())


async def follower_counts(conn: AsyncConnection) -> dict[str, int]:
    """Readers per followed topic, in one query (topics nobody follows are absent)."""
    rows = await conn.execute(select(follows.c.topic, func.count()).group_by(follows.c.topic))
    return {topic: int(n) for topic, n in rows}


async def list_destinations(conn: AsyncConnection) -> list[DestinationRow]:
    rows = await conn.execute(select(social_destinations).order_by(social_destinations.c.id))
    return [DestinationRow(r.id, r.key, r.target, tuple(json.loads(r.topics)), r.enabled) for r in rows]


async def add_destination(conn: AsyncConnection, key: str, target: str, topics: Sequence[str], at: datetime) -> int:
    result = await conn.execute(
        social_destinations.insert()
        .values(key=key, target=target, topics=json.dumps(list(topics)), enabled=True, created_at=at)
        .returning(social_destinations.c.id)
    )
    return int(result.scalar_one())


async def enable_destination(conn: AsyncConnection, key: str, enabled: bool) -> None:
    """Post to the destination named *key* again, or no more for now (kept, so enabling it needs no secret)."""
    await conn.execute(update(social_destinations).where(social_destinations.c.key == key).values(enabled=enabled))


async def remove_destination(conn: AsyncConnection, key: str) -> None:
    await conn.execute(delete(social_destinations).where(social_destinations.c.key == key))
