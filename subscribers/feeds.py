"""What is remembered of each polled feed: its validators and health between polls, and the entries seen."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.database import CHUNK, insert_ignoring_conflicts
from subscribers.schema import feed_entries, feeds


@dataclass(frozen=True, slots=True)
class FeedState:
    """What we remember of a feed between polls: validators for conditional GETs and its health."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    last_polled_at: datetime | None = None
    last_error: str | None = None
    failures: int = 0


async def load_feed_state(conn: AsyncConnection, url: str) -> FeedState | None:
    row = (await conn.execute(select(feeds).where(feeds.c.url == url))).one_or_none()
    if row is None:
        return None
    return FeedState(row.url, row.etag, row.last_modified, row.last_polled_at, row.last_error, row.failures)


async def save_feed_state(conn: AsyncConnection, state: FeedState) -> None:
    values = {
        "etag": state.etag,
        "last_modified": state.last_modified,
        "last_polled_at": state.last_polled_at,
        "last_error": state.last_error,
        "failures": state.failures,
    }
    result = await conn.execute(update(feeds).where(feeds.c.url == state.url).values(**values))
    if result.rowcount == 0:
        await conn.execute(feeds.insert().values(url=state.url, **values))


async def known_feed_entries(conn: AsyncConnection, feed_url: str, keys: Sequence[str]) -> set[str]:
    """Which of these entry keys were already seen in this feed."""
    found: set[str] = set()
    for start in range(0, len(keys), CHUNK):
        chunk = list(keys[start : start + CHUNK])
        found.update(
            (
                await conn.execute(
                    select(feed_entries.c.entry_key).where(
                        feed_entries.c.feed_url == feed_url, feed_entries.c.entry_key.in_(chunk)
                    )
                )
            ).scalars()
        )
    return found


async def record_feed_entry(
    conn: AsyncConnection, feed_url: str, entry_key: str, story_id: str | None, now: datetime
) -> None:
    """Remember an entry as seen (story_id None: it was skipped or refused), so it is never ingested twice."""
    await conn.execute(
        insert_ignoring_conflicts(conn, feed_entries).values(
            feed_url=feed_url, entry_key=entry_key, story_id=story_id, created_at=now
        )
    )
