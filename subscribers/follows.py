"""Which topics a reader follows: adding, removing, toggling and reading them back."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.database import CHUNK, insert_ignoring_conflicts
from subscribers.schema import follows


async def set_follows(conn: AsyncConnection, subscriber_id: int, topics: Iterable[str], now: datetime) -> None:
    """Add topics to what a subscriber follows (already-followed topics are left as they are)."""
    rows = [{"subscriber_id": subscriber_id, "topic": t, "created_at": now} for t in topics]
    if rows:
        await conn.execute(insert_ignoring_conflicts(conn, follows), rows)


async def unfollow_topics(conn: AsyncConnection, subscriber_id: int, topics: Iterable[str] | None) -> list[str]:
    """Stop following *topics* (every topic when None); returns the slugs that were followed and now are not."""
    query = select(follows.c.topic).where(follows.c.subscriber_id == subscriber_id)
    if topics is not None:
        query = query.where(follows.c.topic.in_(list(topics)))
    removed = list((await conn.execute(query.order_by(follows.c.topic))).scalars())
    if removed:
        await conn.execute(
            delete(follows).where(follows.c.subscriber_id == subscriber_id, follows.c.topic.in_(removed))
        )
    return removed


async def toggle_follow(conn: AsyncConnection, subscriber_id: int, topic: str, now: datetime) -> bool:
    """Follow *topic* if it was not followed, else stop following it; returns whether it is followed now."""
    removed = await conn.execute(
        delete(follows).where(follows.c.subscriber_id == subscriber_id, follows.c.topic == topic)
    )
    if removed.rowcount:
        return False
    await set_follows(conn, subscriber_id, [topic], now)
    return True


async def followed_topics(conn: AsyncConnection, subscriber_id: int) -> frozenset[str]:
    rows = await conn.execute(select(follows.c.topic).where(follows.c.subscriber_id == subscriber_id))
    return frozenset(rows.scalars())


async def followed_topics_of(conn: AsyncConnection, subscriber_ids: Iterable[int]) -> dict[int, frozenset[str]]:
    """What each of these subscribers follows (those following nothing map to an empty set)."""
    ids = list(subscriber_ids)
    found: dict[int, set[str]] = {subscriber_id: set() for subscriber_id in ids}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        rows = await conn.execute(
            select(follows.c.subscriber_id, follows.c.topic).where(follows.c.subscriber_id.in_(chunk))
        )
        for subscriber_id, topic in rows:
            found[subscriber_id].add(topic)
    return {subscriber_id: frozenset(topics) for subscriber_id, topics in found.items()}
