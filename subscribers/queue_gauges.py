"""What ``/metrics`` reads from the store on each scrape: the queue per priority and the live workers.

These are facts of the shared store, not of one process, so any process (a web replica, one of several workers)
answers them truthfully. Both are single aggregates over indexed columns, cheap enough for every scrape.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.schema import DeliveryStatus, deliveries, workers

#: Deliveries not yet done: waiting for their turn (pending) or in a worker's hands (sending).
QUEUED = (DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value)


async def queue_depth_by_priority(conn: AsyncConnection) -> dict[int, int]:
    """Queued deliveries per priority (lower goes first), due or not; priorities with none are absent."""
    rows = await conn.execute(
        select(deliveries.c.priority, func.count())
        .where(deliveries.c.status.in_(QUEUED))
        .group_by(deliveries.c.priority)
    )
    return {priority: count for priority, count in rows}


async def live_worker_count(conn: AsyncConnection, now: datetime, lease: timedelta) -> int:
    """Delivery workers whose heartbeat is younger than *lease*: those that the others count as alive."""
    query = select(func.count()).select_from(workers).where(workers.c.heartbeat_at >= now - lease)
    return (await conn.execute(query)).scalar_one()
