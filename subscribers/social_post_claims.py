"""Which worker holds a social post it is sending, so that a dead worker's posts go back to the queue.

A post's claim follows the rule of a delivery's (``delivery_retry.requeue_orphaned_deliveries``, both through
``workers.held_by_no_live_worker``): it belongs to a worker in the ``workers`` registry, and goes back to the queue
when that worker is no longer registered or its heartbeat is older than the lease. The claimer is
``social_posts.claimed_by``, as ``deliveries.claimed_by`` is a delivery's.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.schema import DeliveryStatus, social_posts
from subscribers.workers import held_by_no_live_worker


async def hold_social_posts(conn: AsyncConnection, post_ids: Iterable[int], worker_id: str) -> None:
    """Mark posts just claimed (status 'sending') as held by *worker_id*."""
    ids = list(post_ids)
    if ids:
        await conn.execute(
            update(social_posts)
            .where(social_posts.c.id.in_(ids), social_posts.c.status == DeliveryStatus.SENDING.value)
            .values(claimed_by=worker_id)
        )


async def requeue_orphaned_social_posts(conn: AsyncConnection, now: datetime, lease: timedelta) -> int:
    """Return to the queue the posts that dead workers (or a poster that kept no claim) left 'sending'."""
    orphaned = held_by_no_live_worker(social_posts.c.claimed_by, now, lease)
    result = await conn.execute(
        update(social_posts)
        .where(social_posts.c.status == DeliveryStatus.SENDING.value, orphaned)
        .values(status=DeliveryStatus.PENDING.value, claimed_by=None, updated_at=now)
    )
    return result.rowcount
