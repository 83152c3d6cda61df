"""What has been sent and what waits, for people: `newsbot status`, the demo's report, a story's delivery counts
(the API, the editors' chat), and whether a story has gone out yet (retagging).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.deliveries import deliveries_with_addresses, story_item_key
from subscribers.schema import AddressStatus, ChannelName, DeliveryStatus, addresses, deliveries


@dataclass(frozen=True, slots=True)
class SentRecord:
    story_id: str | None
    item_key: str
    channel: str
    address: str | None
    status: str
    provider_id: str | None
    last_error: str | None


async def list_deliveries(conn: AsyncConnection, limit: int = 1000) -> list[SentRecord]:
    """Recent deliveries with their addresses, newest first (for the demo report and `newsbot status`)."""
    rows = await conn.execute(
        select(
            deliveries.c.story_id,
            deliveries.c.item_key,
            deliveries.c.channel,
            addresses.c.address,
            deliveries.c.status,
            deliveries.c.provider_id,
            deliveries.c.last_error,
        )
        .select_from(deliveries_with_addresses)
        .order_by(deliveries.c.id.desc())
        .limit(limit)
    )
    return [SentRecord(*row) for row in rows]


async def story_delivery_status_counts(conn: AsyncConnection, story_id: str) -> dict[str, dict[str, int]]:
    """Deliveries of a story per channel and status, e.g. {"telegram": {"sent": 3, "pending": 1}}."""
    counts: dict[str, dict[str, int]] = {c.value: {} for c in ChannelName}
    rows = await conn.execute(
        select(deliveries.c.channel, deliveries.c.status, func.count())
        .where(deliveries.c.item_key == story_item_key(story_id))
        .group_by(deliveries.c.channel, deliveries.c.status)
    )
    for channel, status, count in rows:
        counts.setdefault(channel, {})[status] = count
    return counts


async def count_sent_deliveries(conn: AsyncConnection, story_id: str) -> int:
    """How many readers the story has already reached: once one has, its topics are history, not a plan."""
    return (
        await conn.execute(
            select(func.count())
            .select_from(deliveries)
            .where(deliveries.c.item_key == story_item_key(story_id), deliveries.c.status == DeliveryStatus.SENT.value)
        )
    ).scalar_one()


async def story_failure_reasons(conn: AsyncConnection, story_id: str) -> dict[str, int]:
    """Why a story's failed deliveries failed, most frequent first."""
    rows = await conn.execute(
        select(deliveries.c.last_error, func.count().label("n"))
        .where(
            deliveries.c.item_key == story_item_key(story_id),
            deliveries.c.status == DeliveryStatus.FAILED.value,
        )
        .group_by(deliveries.c.last_error)
        .order_by(func.count().desc())
    )
    return {(reason or "unknown"): count for reason, count in rows}


async def delivery_status_totals(conn: AsyncConnection) -> dict[str, int]:
    """All deliveries by status: the size of the queue at a glance."""
    rows = await conn.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status))
    return {status: count for status, count in rows}


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """Deliveries not yet done for one channel and priority: due now, waiting for a retry, being sent."""

    channel: str
    priority: int
    due: int
    waiting: int
    sending: int


@dataclass(frozen=True, slots=True)
class DeliveryStatusReport:
    queue: list[QueueDepth]
    sent_last_minute: dict[str, int]
    failures: list[tuple[str, int]]  # (reason, count), most frequent first
    other_failures: int  # failures whose reason is not among those listed
    deactivated_chats: int
    bounced_addresses: int


async def delivery_status_report(
    conn: AsyncConnection, now: datetime, *, sent_since: datetime, failures_since: datetime, top_reasons: int = 10
) -> DeliveryStatusReport:
    """What an operator wants at a glance; every figure is one aggregate query, nothing is loaded row by row.

    Queue depth counts deliveries still to do (due by *now*, waiting for a retry, or claimed by a worker);
    sends and failures are counted since the given times.
    """
    due = (deliveries.c.not_before <= now).label("due")
    rows = await conn.execute(
        select(deliveries.c.channel, deliveries.c.priority, deliveries.c.status, due, func.count())
        .where(deliveries.c.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value]))
        .group_by(deliveries.c.channel, deliveries.c.priority, deliveries.c.status, due)
    )
    depth: dict[tuple[str, int], dict[str, int]] = {}
    for channel, priority, status, is_due, count in rows:
        slot = depth.setdefault((channel, priority), {"due": 0, "waiting": 0, "sending": 0})
        kind = "sending" if status == DeliveryStatus.SENDING.value else "due" if is_due else "waiting"
        slot[kind] += count
    queue = [QueueDepth(channel, priority, **counts) for (channel, priority), counts in sorted(depth.items())]

    sent = {c.value: 0 for c in ChannelName}
    rows = await conn.execute(
        select(deliveries.c.channel, func.count())
        .where(deliveries.c.status == DeliveryStatus.SENT.value, deliveries.c.sent_at >= sent_since)
        .group_by(deliveries.c.channel)
    )
    sent.update({channel: count for channel, count in rows})

    reasons = list(
        await conn.execute(
            select(func.coalesce(deliveries.c.last_error, "unknown"), func.count())
            .where(deliveries.c.status == DeliveryStatus.FAILED.value, deliveries.c.updated_at >= failures_since)
            .group_by(deliveries.c.last_error)
            .order_by(func.count().desc(), deliveries.c.last_error)
        )
    )
    failures = [(reason, count) for reason, count in reasons[:top_reasons]]
    other_failures = sum(count for _, count in reasons[top_reasons:])

    dead = or_(
        and_(addresses.c.channel == ChannelName.TELEGRAM.value, addresses.c.status == AddressStatus.INACTIVE.value),
        and_(addresses.c.channel == ChannelName.EMAIL.value, addresses.c.status == AddressStatus.BOUNCED.value),
    )
    rows = await conn.execute(select(addresses.c.channel, func.count()).where(dead).group_by(addresses.c.channel))
    gone = {channel: count for channel, count in rows}
    return DeliveryStatusReport(
        queue=queue,
        sent_last_minute=sent,
        failures=failures,
        other_failures=other_failures,
        deactivated_chats=gone.get(ChannelName.TELEGRAM.value, 0),
        bounced_addresses=gone.get(ChannelName.EMAIL.value, 0),
    )
