"""Putting deliveries back in the queue: claims a dead worker left, claims a stopping worker never sent, and
`newsbot retry`.

None ever touches a delivery that was sent: only ``sending`` rows of a dead worker or of the stopping worker itself
go back, and a retry picks ``failed`` rows and ``pending`` rows waiting for a later time, never those waiting for
their story's embargo to lift (nor ``stopped`` ones: that is `newsbot resume`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement

from subscribers import channel_health
from subscribers.database import CHUNK
from subscribers.schema import DeliveryStatus, deliveries, stories, workers
from subscribers.workers import held_by_no_live_worker


async def requeue_orphaned_deliveries(conn: AsyncConnection, now: datetime, lease: timedelta) -> int:
    """Return to the queue what dead workers had claimed; returns how many rows.

    A worker is dead when its heartbeat is older than *lease* or it is no longer registered. A message it had
    handed to a channel but not yet recorded is sent again: the duplicate window, at most the dead worker's
    in-flight limit (the worker's ``MAX_UNRECORDED``).
    """
    orphaned = held_by_no_live_worker(deliveries.c.claimed_by, now, lease)
    result = await conn.execute(
        update(deliveries)
        .where(deliveries.c.status == DeliveryStatus.SENDING.value, orphaned)
        .values(status=DeliveryStatus.PENDING.value, claimed_by=None, updated_at=now)
    )
    await conn.execute(delete(workers).where(workers.c.heartbeat_at < now - lease))
    return result.rowcount


async def release_claims(conn: AsyncConnection, delivery_ids: Sequence[int], worker_id: str, now: datetime) -> int:
    """Return to the queue, untouched, deliveries *worker_id* claimed but never handed to a channel."""
    released = 0
    for start in range(0, len(delivery_ids), CHUNK):
        result = await conn.execute(
            update(deliveries)
            .where(
                deliveries.c.id.in_(list(delivery_ids[start : start + CHUNK])),
                deliveries.c.status == DeliveryStatus.SENDING.value,
                deliveries.c.claimed_by == worker_id,
            )
            .values(status=DeliveryStatus.PENDING.value, claimed_by=None, updated_at=now)
        )
        released += result.rowcount
    return released


@dataclass(frozen=True, slots=True)
class Waiting:
    """Deliveries not yet done when a drain ends: how many, and when the first of them can go."""

    count: int
    next_due: datetime | None


async def waiting_deliveries(conn: AsyncConnection) -> Waiting:
    """What is still queued, and the earliest time anything of it can be sent (a retry, or a paused channel's probe)."""
    count = (
        await conn.execute(
            select(func.count()).select_from(deliveries).where(deliveries.c.status == DeliveryStatus.PENDING.value)
        )
    ).scalar_one()
    return Waiting(count, await channel_health.next_due_time(conn) if count else None)


def _retryable(now: datetime, story_id: str | None, channel: str | None) -> ColumnElement[bool]:
    """Failed rows and rows waiting for a retry; never those of a story whose embargo has not lifted yet."""
    embargoed = exists().where(stories.c.id == deliveries.c.story_id, stories.c.publish_at > now)
    condition = (
        or_(
            deliveries.c.status == DeliveryStatus.FAILED.value,
            (deliveries.c.status == DeliveryStatus.PENDING.value) & (deliveries.c.not_before > now),
        )
        & ~embargoed
    )
    if story_id is not None:
        condition = condition & (deliveries.c.story_id == story_id)
    if channel is not None:
        condition = condition & (deliveries.c.channel == channel)
    return condition


async def retry_deliveries(
    conn: AsyncConnection, now: datetime, *, story_id: str | None = None, channel: str | None = None
) -> dict[str, int]:
    """Make failed and waiting deliveries due now, with a fresh set of attempts; returns how many, by channel.

    A paused channel in scope is probed at once rather than after its backoff.
    """
    where = _retryable(now, story_id, channel)
    counts = {
        name: count
        for name, count in await conn.execute(
            select(deliveries.c.channel, func.count()).where(where).group_by(deliveries.c.channel)
        )
    }
    if counts:
        await conn.execute(
            update(deliveries)
            .where(where)
            .values(status=DeliveryStatus.PENDING.value, not_before=now, attempts=0, claimed_by=None, updated_at=now)
        )
    await channel_health.probe_now(conn, now, None if channel is None else [channel])
    return counts
