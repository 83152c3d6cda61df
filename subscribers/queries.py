"""Every query of the product, in one place, named by what it does (listmonk's ``queries.sql``, in Core).

Functions take an open ``AsyncConnection`` so callers decide transaction boundaries: a CLI command or a worker
batch is one transaction, and a failure leaves nothing half-written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, bindparam, case, delete, exists, func, literal, or_, select, true, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select

from bot.story import Story
from subscribers.database import insert_ignoring_conflicts, reserve_ids
from subscribers.schema import (
    AddressStatus,
    Cadence,
    ChannelName,
    DeliveryStatus,
    Priority,
    addresses,
    deliveries,
    follows,
    stories,
    story_topics,
    subscribers,
)

# SQLite allows 32,766 bound parameters per statement; stay well below for IN lists and multi-row VALUES.
CHUNK = 500


# --- Subscribers -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewAddress:
    channel: ChannelName
    address: str
    cadence: Cadence
    status: AddressStatus


@dataclass(frozen=True, slots=True)
class NewSubscriber:
    """One subscriber to create (or merge into an existing one that owns one of these addresses)."""

    addresses: tuple[NewAddress, ...]
    topics: tuple[str, ...]


@dataclass(slots=True)
class SubscriberView:
    id: int
    created_at: datetime
    addresses: dict[str, dict[str, object]] = field(default_factory=dict)
    topics: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    created: int
    merged: int


async def find_subscriber_ids(conn: AsyncConnection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Map (channel, address) pairs to the subscriber that owns them, for those that exist."""
    keys = list(dict.fromkeys(keys))
    found: dict[tuple[str, str], int] = {}
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        rows = await conn.execute(
            select(addresses.c.channel, addresses.c.address, addresses.c.subscriber_id).where(
                tuple_(addresses.c.channel, addresses.c.address).in_(chunk)
            )
        )
        found.update({(r.channel, r.address): r.subscriber_id for r in rows})
    return found


async def add_subscribers(conn: AsyncConnection, new: Sequence[NewSubscriber], now: datetime) -> ImportOutcome:
    """Create subscribers in bulk; one whose address already exists gets the new topics added instead.

    Ids are reserved up front so every table is filled with one executemany, which keeps a 100,000-row import
    to seconds.
    """
    existing = await find_subscriber_ids(conn, ((a.channel.value, a.address) for s in new for a in s.addresses))
    to_create: list[NewSubscriber] = []
    follow_rows: list[dict[str, object]] = []
    merged = 0
    for sub in new:
        owner = next(
            (existing[(a.channel.value, a.address)] for a in sub.addresses if (a.channel.value, a.address) in existing),
            None,
        )
        if owner is None:
            to_create.append(sub)
        else:
            merged += 1
            follow_rows.extend({"subscriber_id": owner, "topic": t, "created_at": now} for t in sub.topics)

    address_rows: list[dict[str, object]] = []
    ids = await reserve_ids(conn, subscribers, len(to_create))
    if to_create:
        await conn.execute(subscribers.insert(), [{"id": i, "created_at": now} for i in ids])
    for sub, subscriber_id in zip(to_create, ids, strict=True):
        address_rows.extend(
            {
                "subscriber_id": subscriber_id,
                "channel": a.channel.value,
                "address": a.address,
                "cadence": a.cadence.value,
                "status": a.status.value,
                "breaking_email": False,
                "bounce_count": 0,
                "confirmed_at": now if a.status is AddressStatus.ACTIVE and a.channel is ChannelName.EMAIL else None,
                "created_at": now,
                "updated_at": now,
            }
            for a in sub.addresses
        )
        follow_rows.extend({"subscriber_id": subscriber_id, "topic": t, "created_at": now} for t in sub.topics)
    if address_rows:
        await conn.execute(addresses.insert(), address_rows)
    if follow_rows:
        await conn.execute(insert_ignoring_conflicts(conn, follows), follow_rows)
    return ImportOutcome(created=len(to_create), merged=merged)


async def set_follows(conn: AsyncConnection, subscriber_id: int, topics: Iterable[str], now: datetime) -> None:
    """Add topics to what a subscriber follows (already-followed topics are left as they are)."""
    rows = [{"subscriber_id": subscriber_id, "topic": t, "created_at": now} for t in topics]
    if rows:
        await conn.execute(insert_ignoring_conflicts(conn, follows), rows)


async def list_subscribers(conn: AsyncConnection, limit: int | None = None) -> list[SubscriberView]:
    """Subscribers with their addresses and topics, oldest first."""
    query = select(subscribers).order_by(subscribers.c.id)
    if limit is not None:
        query = query.limit(limit)
    views = {row.id: SubscriberView(row.id, row.created_at) for row in await conn.execute(query)}
    ids = list(views)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for row in await conn.execute(
            select(addresses).where(addresses.c.subscriber_id.in_(chunk)).order_by(addresses.c.channel)
        ):
            views[row.subscriber_id].addresses[row.channel] = {
                "address": row.address,
                "cadence": row.cadence,
                "status": row.status,
            }
        for row in await conn.execute(
            select(follows.c.subscriber_id, follows.c.topic)
            .where(follows.c.subscriber_id.in_(chunk))
            .order_by(follows.c.topic)
        ):
            views[row.subscriber_id].topics.append(row.topic)
    return list(views.values())


async def remove_subscriber(conn: AsyncConnection, subscriber_id: int) -> bool:
    """Erase a subscriber and everything personal about them (addresses, follows, pending deliveries)."""
    result = await conn.execute(delete(subscribers).where(subscribers.c.id == subscriber_id))
    return result.rowcount > 0


async def count_subscribers(conn: AsyncConnection) -> int:
    return (await conn.execute(select(func.count()).select_from(subscribers))).scalar_one()


# --- Stories -----------------------------------------------------------------------------------------------


async def save_story(conn: AsyncConnection, story: Story, now: datetime) -> bool:
    """Store a story once; returns False when a story with the same id was already there (a duplicate ingest)."""
    result = await conn.execute(
        insert_ignoring_conflicts(conn, stories).values(
            id=story.id,
            title=story.title,
            body=story.body,
            summary=story.summary,
            url=story.url,
            breaking=story.breaking,
            author=story.author,
            published_at=story.published,
            created_at=now,
        )
    )
    if result.rowcount == 0:
        return False
    if story.topics:
        await conn.execute(
            story_topics.insert(),
            [{"story_id": story.id, "topic": t, "position": i} for i, t in enumerate(story.topics)],
        )
    return True


async def load_story(conn: AsyncConnection, story_id: str) -> Story | None:
    row = (await conn.execute(select(stories).where(stories.c.id == story_id))).one_or_none()
    if row is None:
        return None
    topics = (
        await conn.execute(
            select(story_topics.c.topic).where(story_topics.c.story_id == story_id).order_by(story_topics.c.position)
        )
    ).scalars()
    return Story(
        id=row.id,
        title=row.title,
        body=row.body,
        summary=row.summary,
        topics=tuple(topics),
        url=row.url,
        breaking=row.breaking,
        author=row.author,
        published=row.published_at,
    )


# --- Planning ----------------------------------------------------------------------------------------------


def _story_audience(topics: Sequence[str], breaking: bool) -> Select:
    """Active addresses that should get a story now: followers of any of its topics, by channel and cadence.

    Instant readers get every story; a breaking story also reaches weekly-cadence chats, and emails whose owner
    opted into breaking-news email. Everyone else waits for the weekly digest.
    """
    if breaking:
        wants_it_now = or_(
            and_(addresses.c.channel == ChannelName.TELEGRAM.value, addresses.c.cadence != Cadence.OFF.value),
            and_(
                addresses.c.channel == ChannelName.EMAIL.value,
                or_(addresses.c.cadence == Cadence.INSTANT.value, addresses.c.breaking_email.is_(True)),
            ),
        )
    else:
        wants_it_now = addresses.c.cadence == Cadence.INSTANT.value
    follows_a_topic = exists().where(
        follows.c.subscriber_id == addresses.c.subscriber_id, follows.c.topic.in_(list(topics))
    )
    return select(addresses.c.subscriber_id, addresses.c.channel).where(
        addresses.c.status == AddressStatus.ACTIVE.value, wants_it_now, follows_a_topic
    )


def story_item_key(story_id: str) -> str:
    return f"story:{story_id}"


async def plan_story_deliveries(conn: AsyncConnection, story: Story, now: datetime) -> int:
    """Queue the story for every reader who should get it now, in one INSERT ... SELECT; returns rows added.

    Conflicts on (item, subscriber, channel) are ignored, so planning twice never queues anyone twice.
    """
    if not story.topics:
        return 0
    audience = _story_audience(story.topics, story.breaking).subquery()
    priority = Priority.BREAKING if story.breaking else Priority.NORMAL
    source = select(
        literal(story_item_key(story.id)),
        literal(story.id),
        audience.c.subscriber_id,
        audience.c.channel,
        literal(int(priority)),
        literal(DeliveryStatus.PENDING.value),
        literal(0),
        literal(now, deliveries.c.not_before.type),
        literal(now, deliveries.c.created_at.type),
        literal(now, deliveries.c.updated_at.type),
    ).where(true())  # SQLite needs a WHERE to tell the SELECT's end from the ON CONFLICT clause
    columns = [
        "item_key",
        "story_id",
        "subscriber_id",
        "channel",
        "priority",
        "status",
        "attempts",
        "not_before",
        "created_at",
        "updated_at",
    ]
    result = await conn.execute(insert_ignoring_conflicts(conn, deliveries).from_select(columns, source))
    return max(result.rowcount, 0)


async def count_story_audience(conn: AsyncConnection, topics: Sequence[str], breaking: bool) -> dict[str, int]:
    """How many readers per channel a story would reach now (for dry runs and previews)."""
    counts = {c.value: 0 for c in ChannelName}
    if topics:
        audience = _story_audience(topics, breaking).subquery()
        rows = await conn.execute(select(audience.c.channel, func.count()).group_by(audience.c.channel))
        counts.update({row[0]: row[1] for row in rows})
    return counts


async def count_story_deliveries(conn: AsyncConnection, story_id: str) -> dict[str, int]:
    """Deliveries queued for a story, per channel (whatever their status)."""
    counts = {c.value: 0 for c in ChannelName}
    rows = await conn.execute(
        select(deliveries.c.channel, func.count())
        .where(deliveries.c.item_key == story_item_key(story_id))
        .group_by(deliveries.c.channel)
    )
    counts.update({row[0]: row[1] for row in rows})
    return counts


# --- Sending -----------------------------------------------------------------------------------------------


#: Each delivery with the address it goes to (the subscriber's address on the delivery's channel, if any).
_deliveries_with_addresses = deliveries.outerjoin(
    addresses,
    and_(addresses.c.subscriber_id == deliveries.c.subscriber_id, addresses.c.channel == deliveries.c.channel),
)


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    id: int
    item_key: str
    story_id: str | None
    subscriber_id: int
    channel: str
    address: str | None  # None when the address is gone or no longer active: the delivery is cancelled
    attempts: int


async def claim_due_deliveries(conn: AsyncConnection, limit: int, now: datetime) -> list[ClaimedDelivery]:
    """Take up to *limit* due deliveries (breaking first, then oldest) and mark them as being sent.

    Rows whose address is no longer active are returned with ``address=None`` so the caller cancels them: an
    unsubscribe takes effect before the next send.
    """
    due = (
        select(deliveries.c.id)
        .where(deliveries.c.status == DeliveryStatus.PENDING.value, deliveries.c.not_before <= now)
        .order_by(deliveries.c.priority, deliveries.c.not_before, deliveries.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list((await conn.execute(due)).scalars())
    if not ids:
        return []
    await conn.execute(
        update(deliveries).where(deliveries.c.id.in_(ids)).values(status=DeliveryStatus.SENDING.value, updated_at=now)
    )
    active_address = case((addresses.c.status == AddressStatus.ACTIVE.value, addresses.c.address), else_=None)
    rows = await conn.execute(
        select(
            deliveries.c.id,
            deliveries.c.item_key,
            deliveries.c.story_id,
            deliveries.c.subscriber_id,
            deliveries.c.channel,
            active_address.label("address"),
            deliveries.c.attempts,
        )
        .select_from(_deliveries_with_addresses)
        .where(deliveries.c.id.in_(ids))
        .order_by(deliveries.c.priority, deliveries.c.not_before, deliveries.c.id)
    )
    return [ClaimedDelivery(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What happened to one claimed delivery; the worker collects these and records them in one go."""

    delivery_id: int
    channel: str
    status: DeliveryStatus
    error: str | None = None
    provider_id: str | None = None
    retry_at: datetime | None = None


async def record_outcomes(conn: AsyncConnection, outcomes: Sequence[DeliveryOutcome], now: datetime) -> None:
    """Write a batch of outcomes: one executemany per kind instead of one commit per message."""
    sent = [{"b_id": o.delivery_id, "b_provider": o.provider_id} for o in outcomes if o.status is DeliveryStatus.SENT]
    if sent:
        await conn.execute(
            update(deliveries)
            .where(deliveries.c.id == bindparam("b_id"))
            .values(
                status=DeliveryStatus.SENT.value,
                provider_id=bindparam("b_provider"),
                attempts=deliveries.c.attempts + 1,
                sent_at=now,
                updated_at=now,
                last_error=None,
            ),
            sent,
        )
    others = [o for o in outcomes if o.status is not DeliveryStatus.SENT]
    if others:
        await conn.execute(
            update(deliveries)
            .where(deliveries.c.id == bindparam("b_id"))
            .values(
                status=bindparam("b_status"),
                last_error=bindparam("b_error"),
                not_before=bindparam("b_retry", type_=deliveries.c.not_before.type),
                attempts=deliveries.c.attempts + bindparam("b_tried"),
                updated_at=now,
            ),
            [
                {
                    "b_id": o.delivery_id,
                    "b_status": o.status.value,
                    "b_error": o.error,
                    "b_retry": o.retry_at or now,
                    # A cancelled delivery was never attempted.
                    "b_tried": 0 if o.status is DeliveryStatus.CANCELLED else 1,
                }
                for o in others
            ],
        )


async def requeue_abandoned_deliveries(conn: AsyncConnection, claimed_before: datetime, now: datetime) -> int:
    """Return deliveries left in 'sending' by a worker that died to the queue; returns how many.

    A message that was sent but not yet recorded when the worker died is sent again: that is the (bounded)
    duplicate window, at most one worker batch.
    """
    result = await conn.execute(
        update(deliveries)
        .where(deliveries.c.status == DeliveryStatus.SENDING.value, deliveries.c.updated_at < claimed_before)
        .values(status=DeliveryStatus.PENDING.value, updated_at=now)
    )
    return result.rowcount


async def deactivate_address(
    conn: AsyncConnection, channel: str, subscriber_id: int, status: AddressStatus, reason: str, now: datetime
) -> None:
    """Stop sending to an address that is gone, and cancel what was still queued for it."""
    await conn.execute(
        update(addresses)
        .where(addresses.c.subscriber_id == subscriber_id, addresses.c.channel == channel)
        .values(status=status.value, updated_at=now)
    )
    await conn.execute(
        update(deliveries)
        .where(
            deliveries.c.subscriber_id == subscriber_id,
            deliveries.c.channel == channel,
            deliveries.c.status == DeliveryStatus.PENDING.value,
        )
        .values(status=DeliveryStatus.CANCELLED.value, last_error=reason, updated_at=now)
    )


async def move_address(conn: AsyncConnection, channel: str, old: str, new: str, now: datetime) -> None:
    """A Telegram group became a supergroup: keep its follows under the new chat id."""
    await conn.execute(
        update(addresses)
        .where(addresses.c.channel == channel, addresses.c.address == old)
        .values(address=new, updated_at=now)
    )


async def count_due_deliveries(conn: AsyncConnection, now: datetime | None = None) -> int:
    query = select(func.count()).select_from(deliveries).where(deliveries.c.status == DeliveryStatus.PENDING.value)
    if now is not None:
        query = query.where(deliveries.c.not_before <= now)
    return (await conn.execute(query)).scalar_one()


async def next_retry_time(conn: AsyncConnection) -> datetime | None:
    """When the earliest pending delivery becomes due (None when the queue is empty)."""
    return (
        await conn.execute(
            select(func.min(deliveries.c.not_before)).where(deliveries.c.status == DeliveryStatus.PENDING.value)
        )
    ).scalar_one_or_none()


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
        .select_from(_deliveries_with_addresses)
        .order_by(deliveries.c.id.desc())
        .limit(limit)
    )
    return [SentRecord(*row) for row in rows]
