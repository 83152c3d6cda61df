"""Counting requests per bucket and one-minute window in the store, so every web process shares one count.

A bucket names what is counted and for whom, e.g. ``signup:client:203.0.113.7`` or ``confirm:site``;
``bot.readers.request_limits`` decides what the counts allow.
"""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.database import insert_ignoring_conflicts
from subscribers.schema import request_counts


async def count_request(conn: AsyncConnection, bucket: str, window_start: int) -> int:
    """Add one hit to *bucket* in the window starting at *window_start* (epoch seconds); the hits so far."""
    await conn.execute(
        insert_ignoring_conflicts(conn, request_counts).values(bucket=bucket, window_start=window_start, hits=0)
    )
    hits = await conn.execute(
        update(request_counts)
        .where(request_counts.c.bucket == bucket, request_counts.c.window_start == window_start)
        .values(hits=request_counts.c.hits + 1)
        .returning(request_counts.c.hits)
    )
    return int(hits.scalar_one())


async def forget_windows_before(conn: AsyncConnection, window_start: int) -> int:
    """Drop the counts of windows that ended: they decide nothing any more. Returns the rows dropped."""
    result = await conn.execute(delete(request_counts).where(request_counts.c.window_start < window_start))
    return result.rowcount or 0
