"""What the desk's Readers page reads: counts by topic and channel, when readers came and went, a search by
address or chat id, and one reader's whole record (for its page and its GDPR export).

Readers are erased, not flagged, when they leave for good (``/stop``, ``subscribers remove``, the desk's erase),
so nothing here can count those afterwards; what the store does keep is an address that stopped (unsubscribed,
chat gone, bounced: ``inactive`` or ``bounced`` with the time it changed) and the audit log's desk erasures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.email_keys import email_key
from subscribers.schema import AddressStatus, Cadence, addresses, audit_log, deliveries, follows, subscribers

#: The audit log's action for a reader erased at the desk (its details name the subscriber id, nothing personal).
ERASED_ACTION = "reader erased"
#: Addresses in these states no longer receive anything.
STOPPED_STATES = (AddressStatus.INACTIVE.value, AddressStatus.BOUNCED.value)


@dataclass(frozen=True, slots=True)
class TopicCount:
    """Readers following one topic, and how many of them each channel reaches (an active address not set to off)."""

    topic: str
    readers: int
    by_channel: dict[str, int]


@dataclass(frozen=True, slots=True)
class FoundAddress:
    subscriber_id: int
    channel: str
    address: str
    status: str


@dataclass(frozen=True, slots=True)
class ReaderRecord:
    """Everything the store holds about one reader: what their page shows and their export contains."""

    subscriber_id: int
    created_at: datetime
    addresses: list[dict[str, Any]]
    follows: list[dict[str, Any]]
    deliveries: list[dict[str, Any]]


async def topic_counts(conn: AsyncConnection) -> list[TopicCount]:
    """Per followed topic, most followed first: its readers, and those each channel reaches."""
    totals = await conn.execute(
        select(follows.c.topic, func.count().label("n")).group_by(follows.c.topic).order_by(follows.c.topic)
    )
    counts = {row.topic: TopicCount(row.topic, row.n, {}) for row in totals}
    reached = await conn.execute(
        select(follows.c.topic, addresses.c.channel, func.count().label("n"))
        .join(addresses, addresses.c.subscriber_id == follows.c.subscriber_id)
        .where(addresses.c.status == AddressStatus.ACTIVE.value, addresses.c.cadence != Cadence.OFF.value)
        .group_by(follows.c.topic, addresses.c.channel)
    )
    for row in reached:
        counts[row.topic].by_channel[row.channel] = row.n
    return sorted(counts.values(), key=lambda count: (-count.readers, count.topic))


async def channel_counts(conn: AsyncConnection) -> dict[str, dict[str, int]]:
    """Addresses per channel and status (active, pending, inactive, bounced)."""
    rows = await conn.execute(
        select(addresses.c.channel, addresses.c.status, func.count().label("n")).group_by(
            addresses.c.channel, addresses.c.status
        )
    )
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        counts.setdefault(row.channel, {})[row.status] = row.n
    return counts


async def signup_times(conn: AsyncConnection, since: datetime) -> list[datetime]:
    """When the readers still in the store since *since* were created."""
    rows = await conn.execute(select(subscribers.c.created_at).where(subscribers.c.created_at >= since))
    return list(rows.scalars())


async def leaving_times(conn: AsyncConnection, since: datetime) -> list[datetime]:
    """When addresses stopped (unsubscribed, chat gone, bounced; by their last change) and readers were erased at
    the desk, since *since*."""
    stopped = await conn.execute(
        select(addresses.c.updated_at).where(addresses.c.status.in_(STOPPED_STATES), addresses.c.updated_at >= since)
    )
    erased = await conn.execute(
        select(audit_log.c.at).where(audit_log.c.action == ERASED_ACTION, audit_log.c.at >= since)
    )
    return [*stopped.scalars(), *erased.scalars()]


async def search_addresses(conn: AsyncConnection, text: str, limit: int = 50) -> list[FoundAddress]:
    """Addresses matching *text*: a chat id exactly, an email address by any part of it in any case."""
    text = text.strip()
    query = select(addresses.c.subscriber_id, addresses.c.channel, addresses.c.address, addresses.c.status)
    if text.lstrip("-").isdigit():
        query = query.where(addresses.c.address == text)
    else:
        query = query.where(addresses.c.email_key.contains(email_key(text), autoescape=True))
    rows = await conn.execute(query.order_by(addresses.c.address).limit(limit))
    return [FoundAddress(*row) for row in rows]


async def reader_record(
    conn: AsyncConnection, subscriber_id: int, delivery_limit: int | None = None
) -> ReaderRecord | None:
    """One reader's addresses, follows and deliveries (newest first; *delivery_limit* of them), or None."""
    created = (
        await conn.execute(select(subscribers.c.created_at).where(subscribers.c.id == subscriber_id))
    ).scalar_one_or_none()
    if created is None:
        return None
    address_rows = await conn.execute(
        select(addresses).where(addresses.c.subscriber_id == subscriber_id).order_by(addresses.c.channel)
    )
    follow_rows = await conn.execute(
        select(follows.c.topic, follows.c.created_at)
        .where(follows.c.subscriber_id == subscriber_id)
        .order_by(follows.c.topic)
    )
    delivery_query = (
        select(
            deliveries.c.item_key,
            deliveries.c.channel,
            deliveries.c.status,
            deliveries.c.attempts,
            deliveries.c.last_error,
            deliveries.c.created_at,
            deliveries.c.sent_at,
        )
        .where(deliveries.c.subscriber_id == subscriber_id)
        .order_by(deliveries.c.id.desc())
    )
    if delivery_limit is not None:
        delivery_query = delivery_query.limit(delivery_limit)
    hidden = {"id", "subscriber_id", "email_key", "confirmation_nonce"}  # internal, or a secret of a link
    return ReaderRecord(
        subscriber_id=subscriber_id,
        created_at=created,
        addresses=[{k: v for k, v in row._mapping.items() if k not in hidden} for row in address_rows],
        follows=[dict(row._mapping) for row in follow_rows],
        deliveries=[dict(row._mapping) for row in await conn.execute(delivery_query)],
    )


async def count_deliveries(conn: AsyncConnection, subscriber_id: int) -> int:
    query = select(func.count()).select_from(deliveries).where(deliveries.c.subscriber_id == subscriber_id)
    return (await conn.execute(query)).scalar_one()
