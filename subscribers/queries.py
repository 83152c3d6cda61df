"""Every query of the product, in one place, named by what it does (listmonk's ``queries.sql``, in Core).

Functions take an open ``AsyncConnection`` so callers decide transaction boundaries: a CLI command or a worker
batch is one transaction, and a failure leaves nothing half-written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, case, delete, exists, func, literal, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select, Subquery

from bot.stories.story import Story
from subscribers.database import insert_ignoring_conflicts, reserve_ids
from subscribers.email_keys import address_key, email_key
from subscribers.schema import (
    DEFAULT_CADENCE,
    AddressStatus,
    Cadence,
    ChannelName,
    DeliveryStatus,
    Priority,
    addresses,
    audit_log,
    deliveries,
    feed_entries,
    feeds,
    follows,
    social_posts,
    stories,
    story_topics,
    subscribers,
    workers,
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


def _address_row(subscriber_id: int, new: NewAddress, now: datetime, **extra: object) -> dict[str, object]:
    """A new address as a row: no bounces, no breaking-news email; an email given as active counts as confirmed."""
    confirmed = new.status is AddressStatus.ACTIVE and new.channel is ChannelName.EMAIL
    return {
        "subscriber_id": subscriber_id,
        "channel": new.channel.value,
        "address": new.address,
        "email_key": address_key(new.channel.value, new.address),
        "cadence": new.cadence.value,
        "status": new.status.value,
        "breaking_email": False,
        "bounce_count": 0,
        "confirmed_at": now if confirmed else None,
        "created_at": now,
        "updated_at": now,
        **extra,
    }


async def find_subscriber_ids(conn: AsyncConnection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Map (channel, address) pairs to the subscriber that owns them, for those that exist.

    Email addresses match whatever their case (by ``email_key``); the result is keyed by the pairs as given.
    """
    keys = list(dict.fromkeys(keys))
    chats = [address for channel, address in keys if channel != ChannelName.EMAIL.value]
    emails: dict[str, list[tuple[str, str]]] = {}
    for channel, address in keys:
        if channel == ChannelName.EMAIL.value:
            emails.setdefault(email_key(address), []).append((channel, address))
    found: dict[tuple[str, str], int] = {}
    for start in range(0, len(chats), CHUNK):
        rows = await conn.execute(
            select(addresses.c.address, addresses.c.subscriber_id).where(
                addresses.c.channel == ChannelName.TELEGRAM.value, addresses.c.address.in_(chats[start : start + CHUNK])
            )
        )
        found.update({(ChannelName.TELEGRAM.value, r.address): r.subscriber_id for r in rows})
    email_keys = list(emails)
    for start in range(0, len(email_keys), CHUNK):
        rows = await conn.execute(
            select(addresses.c.email_key, addresses.c.subscriber_id).where(
                addresses.c.email_key.in_(email_keys[start : start + CHUNK])
            )
        )
        for row in rows:
            found.update(dict.fromkeys(emails[row.email_key], row.subscriber_id))
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
        address_rows.extend(_address_row(subscriber_id, a, now) for a in sub.addresses)
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
            source=story.source,
            external_id=story.external_id,
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
        source=row.source,
        external_id=row.external_id,
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
    return await _queue_deliveries(conn, audience, story_item_key(story.id), priority, now, story_id=story.id)


async def _queue_deliveries(
    conn: AsyncConnection, audience: Subquery, item_key: str, priority: Priority, now: datetime, *, story_id: str | None
) -> int:
    """``INSERT INTO deliveries ... SELECT`` one pending row per (subscriber, channel) of *audience*; returns how many
    were added (existing (item, subscriber, channel) rows are left alone)."""
    source = select(
        literal(item_key),
        literal(story_id, deliveries.c.story_id.type),
        audience.c.subscriber_id,
        audience.c.channel,
        literal(int(priority)),
        literal(DeliveryStatus.PENDING.value),
        literal(0),
        literal(now, deliveries.c.not_before.type),
        literal(now, deliveries.c.created_at.type),
        literal(now, deliveries.c.updated_at.type),
    ).where(true())  # SQLite needs a WHERE to tell the SELECT's end from the ON CONFLICT clause
    columns = ["item_key", "story_id", "subscriber_id", "channel", "priority", "status", "attempts",
               "not_before", "created_at", "updated_at"]  # fmt: skip
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


async def claim_due_deliveries(
    conn: AsyncConnection,
    limit: int,
    now: datetime,
    worker_id: str | None = None,
    *,
    only_channels: Iterable[str] | None = None,
    skip_channels: Iterable[str] = (),
) -> list[ClaimedDelivery]:
    """Take up to *limit* due deliveries (breaking first, then oldest) and mark them as being sent by *worker_id*.

    PostgreSQL's ``FOR UPDATE SKIP LOCKED`` lets concurrent workers claim disjoint batches; SQLite gets the same
    from its single writer (the transaction holds the write lock from BEGIN IMMEDIATE). Rows whose address is no
    longer active are returned with ``address=None`` so the caller cancels them: an unsubscribe takes effect
    before the next send. *only_channels* and *skip_channels* narrow the claim (a paused channel is skipped, or
    probed with a claim of one).
    """
    due = select(deliveries.c.id).where(
        deliveries.c.status == DeliveryStatus.PENDING.value, deliveries.c.not_before <= now
    )
    if only_channels is not None:
        due = due.where(deliveries.c.channel.in_(list(only_channels)))
    skipped = list(skip_channels)
    if skipped:
        due = due.where(deliveries.c.channel.not_in(skipped))
    due = (
        due.order_by(deliveries.c.priority, deliveries.c.not_before, deliveries.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list((await conn.execute(due)).scalars())
    if not ids:
        return []
    await conn.execute(
        update(deliveries)
        .where(deliveries.c.id.in_(ids))
        .values(status=DeliveryStatus.SENDING.value, claimed_by=worker_id, updated_at=now)
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
    """What happened to one claimed delivery; the worker collects these and records them in one go.

    ``attempted=False`` puts a delivery back without counting an attempt: its channel was unreachable (or paused
    before the message went out), which says nothing about the message.
    """

    delivery_id: int
    channel: str
    status: DeliveryStatus
    error: str | None = None
    provider_id: str | None = None
    retry_at: datetime | None = None
    attempted: bool = True


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
                    # A cancelled delivery was never attempted, nor one that waits for its channel to come back.
                    "b_tried": 0 if o.status is DeliveryStatus.CANCELLED or not o.attempted else 1,
                }
                for o in others
            ],
        )


async def register_worker(conn: AsyncConnection, worker_id: str, host: str, pid: int, now: datetime) -> None:
    await conn.execute(workers.insert().values(id=worker_id, host=host, pid=pid, started_at=now, heartbeat_at=now))


async def heartbeat_worker(conn: AsyncConnection, worker_id: str, now: datetime, lease: timedelta) -> int:
    """Record that *worker_id* is alive; returns how many workers are alive now (itself included)."""
    await conn.execute(update(workers).where(workers.c.id == worker_id).values(heartbeat_at=now))
    return (
        await conn.execute(select(func.count()).select_from(workers).where(workers.c.heartbeat_at >= now - lease))
    ).scalar_one()


async def unregister_workers(conn: AsyncConnection, worker_ids: Iterable[str]) -> None:
    ids = list(worker_ids)
    if ids:
        await conn.execute(delete(workers).where(workers.c.id.in_(ids)))


async def workers_on_host(conn: AsyncConnection, host: str) -> list[tuple[str, int]]:
    """(worker id, pid) of the workers registered from *host*, so that dead local processes can be told apart."""
    rows = await conn.execute(select(workers.c.id, workers.c.pid).where(workers.c.host == host))
    return [(row.id, row.pid) for row in rows]


async def requeue_orphaned_deliveries(conn: AsyncConnection, now: datetime, lease: timedelta) -> int:
    """Return to the queue what dead workers had claimed; returns how many rows.

    A worker is dead when its heartbeat is older than *lease* or it is no longer registered. A message it had
    handed to a channel but not yet recorded is sent again: the duplicate window, at most the dead worker's
    in-flight limit (``bot.outbox.worker.MAX_UNRECORDED``).
    """
    alive = select(workers.c.id).where(workers.c.heartbeat_at >= now - lease)
    result = await conn.execute(
        update(deliveries)
        .where(
            deliveries.c.status == DeliveryStatus.SENDING.value,
            or_(deliveries.c.claimed_by.is_(None), deliveries.c.claimed_by.not_in(alive)),
        )
        .values(status=DeliveryStatus.PENDING.value, claimed_by=None, updated_at=now)
    )
    await conn.execute(delete(workers).where(workers.c.heartbeat_at < now - lease))
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


# --- Editors, API, feeds, social ---------------------------------------------------------------------------


async def load_story_by_external_id(conn: AsyncConnection, external_id: str) -> Story | None:
    """The story a caller (a CMS, the API) stored under its own id, if any."""
    story_id = (
        await conn.execute(select(stories.c.id).where(stories.c.external_id == external_id))
    ).scalar_one_or_none()
    return None if story_id is None else await load_story(conn, story_id)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str | None
    recipients: int | None
    details: str | None


async def add_audit_entry(
    conn: AsyncConnection,
    *,
    at: datetime,
    actor: str,
    action: str,
    subject: str | None = None,
    recipients: int | None = None,
    details: str | None = None,
) -> None:
    await conn.execute(
        audit_log.insert().values(
            at=at, actor=actor, action=action, subject=subject, recipients=recipients, details=details
        )
    )


async def list_audit_entries(conn: AsyncConnection, limit: int = 100) -> list[AuditEntry]:
    """The audit log, newest first."""
    rows = await conn.execute(select(audit_log).order_by(audit_log.c.id.desc()).limit(limit))
    return [AuditEntry(r.id, r.at, r.actor, r.action, r.subject, r.recipients, r.details) for r in rows]


@dataclass(frozen=True, slots=True)
class RecentStory:
    id: str
    title: str
    breaking: bool
    source: str | None
    created_at: datetime


async def list_recent_stories(conn: AsyncConnection, limit: int = 5) -> list[RecentStory]:
    rows = await conn.execute(
        select(stories.c.id, stories.c.title, stories.c.breaking, stories.c.source, stories.c.created_at)
        .order_by(stories.c.created_at.desc(), stories.c.id)
        .limit(limit)
    )
    return [RecentStory(*row) for row in rows]


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
class ClaimedSocialPost:
    id: int
    story_id: str
    destination: str
    attempts: int


@dataclass(frozen=True, slots=True)
class SocialPostView:
    destination: str
    status: str
    attempts: int
    last_error: str | None
    provider_id: str | None


async def queue_social_posts(conn: AsyncConnection, story_id: str, destinations: Iterable[str], now: datetime) -> int:
    """One pending post per (story, destination); queuing again adds nothing. Returns posts added."""
    added = 0
    # One statement per destination (a story has a handful): rowcount after executemany is not portable.
    for destination in dict.fromkeys(destinations):
        result = await conn.execute(
            insert_ignoring_conflicts(conn, social_posts).values(
                story_id=story_id,
                destination=destination,
                status=DeliveryStatus.PENDING.value,
                attempts=0,
                not_before=now,
                created_at=now,
                updated_at=now,
            )
        )
        added += max(result.rowcount, 0)
    return added


async def claim_due_social_posts(conn: AsyncConnection, limit: int, now: datetime) -> list[ClaimedSocialPost]:
    """Take due pending posts, oldest first, and mark them as being sent."""
    rows = list(
        await conn.execute(
            select(social_posts.c.id, social_posts.c.story_id, social_posts.c.destination, social_posts.c.attempts)
            .where(social_posts.c.status == DeliveryStatus.PENDING.value, social_posts.c.not_before <= now)
            .order_by(social_posts.c.not_before, social_posts.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if rows:
        await conn.execute(
            update(social_posts)
            .where(social_posts.c.id.in_([row.id for row in rows]))
            .values(status=DeliveryStatus.SENDING.value, updated_at=now)
        )
    return [ClaimedSocialPost(*row) for row in rows]


async def record_social_post(
    conn: AsyncConnection,
    post_id: int,
    status: DeliveryStatus,
    now: datetime,
    *,
    error: str | None = None,
    provider_id: str | None = None,
    retry_at: datetime | None = None,
) -> None:
    """Write one post's outcome; a cancelled post (its destination was unconfigured) was never attempted."""
    tried = 0 if status is DeliveryStatus.CANCELLED else 1
    await conn.execute(
        update(social_posts)
        .where(social_posts.c.id == post_id)
        .values(
            status=status.value,
            attempts=social_posts.c.attempts + tried,
            last_error=error,
            provider_id=provider_id,
            not_before=retry_at or now,
            sent_at=now if status is DeliveryStatus.SENT else None,
            updated_at=now,
        )
    )


async def requeue_abandoned_social_posts(conn: AsyncConnection, now: datetime, claimed_before: datetime) -> int:
    """Posts claimed before *claimed_before* and still 'sending' were left by a dead poster: back to the queue.

    A live poster records every post within its timeout, so only posts older than that can be abandoned; posters
    in several worker processes never take each other's posts in flight.
    """
    result = await conn.execute(
        update(social_posts)
        .where(social_posts.c.status == DeliveryStatus.SENDING.value, social_posts.c.updated_at < claimed_before)
        .values(status=DeliveryStatus.PENDING.value, updated_at=now)
    )
    return result.rowcount


async def next_social_retry_time(conn: AsyncConnection) -> datetime | None:
    return (
        await conn.execute(
            select(func.min(social_posts.c.not_before)).where(social_posts.c.status == DeliveryStatus.PENDING.value)
        )
    ).scalar_one_or_none()


async def list_social_posts(conn: AsyncConnection, story_id: str) -> list[SocialPostView]:
    rows = await conn.execute(
        select(
            social_posts.c.destination,
            social_posts.c.status,
            social_posts.c.attempts,
            social_posts.c.last_error,
            social_posts.c.provider_id,
        )
        .where(social_posts.c.story_id == story_id)
        .order_by(social_posts.c.id)
    )
    return [SocialPostView(*row) for row in rows]


async def social_post_status_totals(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(select(social_posts.c.status, func.count()).group_by(social_posts.c.status))
    return {status: count for status, count in rows}


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


# --- Telegram readers ---------------------------------------------------------------------------------------
# A chat (private, group, supergroup or channel) is a subscriber with one Telegram address: the chat id.


@dataclass(frozen=True, slots=True)
class ChatReader:
    """What a chat follows and how it hears from us, as the bot shows it (one query per command)."""

    subscriber_id: int
    chat_type: str | None
    status: str
    #: Cadence per channel the subscriber has an address on ("telegram", and "email" once linked).
    cadences: dict[str, str]
    email: str | None
    email_status: str | None
    topics: list[str]


async def find_chat_reader(conn: AsyncConnection, chat_id: str) -> ChatReader | None:
    """The subscriber behind a Telegram chat, with its follows and addresses; None before its first contact."""
    telegram = (
        await conn.execute(
            select(addresses.c.subscriber_id, addresses.c.chat_type, addresses.c.status).where(
                addresses.c.channel == ChannelName.TELEGRAM.value, addresses.c.address == chat_id
            )
        )
    ).one_or_none()
    if telegram is None:
        return None
    owned = list(
        await conn.execute(
            select(addresses.c.channel, addresses.c.address, addresses.c.cadence, addresses.c.status).where(
                addresses.c.subscriber_id == telegram.subscriber_id
            )
        )
    )
    email = next((row for row in owned if row.channel == ChannelName.EMAIL.value), None)
    topics = (
        await conn.execute(
            select(follows.c.topic).where(follows.c.subscriber_id == telegram.subscriber_id).order_by(follows.c.topic)
        )
    ).scalars()
    return ChatReader(
        subscriber_id=telegram.subscriber_id,
        chat_type=telegram.chat_type,
        status=telegram.status,
        cadences={row.channel: row.cadence for row in owned},
        email=email.address if email else None,
        email_status=email.status if email else None,
        topics=list(topics),
    )


async def open_chat(conn: AsyncConnection, chat_id: str, chat_type: str, now: datetime) -> int:
    """The subscriber id of a chat, created on first contact with the default cadence and no follows.

    A chat we hear from can be written to, so an inactive one (it had blocked or removed the bot) becomes active
    again with everything it followed before.
    """
    found = (
        await conn.execute(
            select(addresses.c.subscriber_id, addresses.c.status, addresses.c.chat_type).where(
                addresses.c.channel == ChannelName.TELEGRAM.value, addresses.c.address == chat_id
            )
        )
    ).one_or_none()
    if found is not None:
        if found.status != AddressStatus.ACTIVE.value or found.chat_type != chat_type:
            await conn.execute(
                update(addresses)
                .where(addresses.c.channel == ChannelName.TELEGRAM.value, addresses.c.address == chat_id)
                .values(status=AddressStatus.ACTIVE.value, chat_type=chat_type, updated_at=now)
            )
        return int(found.subscriber_id)
    created = await conn.execute(subscribers.insert().values(created_at=now))
    subscriber_id = int(created.inserted_primary_key[0])
    chat = NewAddress(ChannelName.TELEGRAM, chat_id, DEFAULT_CADENCE[ChannelName.TELEGRAM], AddressStatus.ACTIVE)
    await conn.execute(addresses.insert().values(_address_row(subscriber_id, chat, now, chat_type=chat_type)))
    return subscriber_id


async def close_chat(conn: AsyncConnection, chat_id: str, reason: str, now: datetime) -> bool:
    """The bot was blocked, kicked or removed: the chat becomes inactive (its follows are kept) and what was
    queued for it is cancelled. Returns False for a chat we never knew."""
    subscriber_id = (
        await conn.execute(
            select(addresses.c.subscriber_id).where(
                addresses.c.channel == ChannelName.TELEGRAM.value, addresses.c.address == chat_id
            )
        )
    ).scalar_one_or_none()
    if subscriber_id is None:
        return False
    await deactivate_address(conn, ChannelName.TELEGRAM.value, subscriber_id, AddressStatus.INACTIVE, reason, now)
    return True


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


async def set_cadence(
    conn: AsyncConnection, subscriber_id: int, channel: ChannelName, cadence: Cadence, now: datetime
) -> bool:
    """How often a subscriber hears from us on one channel; False when they have no address on it."""
    result = await conn.execute(
        update(addresses)
        .where(addresses.c.subscriber_id == subscriber_id, addresses.c.channel == channel.value)
        .values(cadence=cadence.value, updated_at=now)
    )
    return result.rowcount > 0


async def erase_chat_reader(conn: AsyncConnection, chat_id: str) -> bool:
    """Forget a chat's reader entirely: chat id, email address, follows and queued deliveries (by cascade)."""
    subscriber_id = (
        await conn.execute(
            select(addresses.c.subscriber_id).where(
                addresses.c.channel == ChannelName.TELEGRAM.value, addresses.c.address == chat_id
            )
        )
    ).scalar_one_or_none()
    if subscriber_id is None:
        return False
    return await remove_subscriber(conn, subscriber_id)


# --- Email readers and digests -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EmailAddressRow:
    """A subscriber's email address as double opt-in, unsubscribing and bounce handling see it."""

    subscriber_id: int
    address: str
    status: str
    confirmation_sent_at: datetime | None
    confirmed_at: datetime | None


def _email_row_query() -> Select:
    return select(
        addresses.c.subscriber_id,
        addresses.c.address,
        addresses.c.status,
        addresses.c.confirmation_sent_at,
        addresses.c.confirmed_at,
    ).where(addresses.c.channel == ChannelName.EMAIL.value)


async def find_email_by_address(conn: AsyncConnection, address: str) -> EmailAddressRow | None:
    """The email address on file that is *address* whatever its case (its stored spelling is in the row)."""
    row = (await conn.execute(_email_row_query().where(addresses.c.email_key == email_key(address)))).one_or_none()
    return None if row is None else EmailAddressRow(*row)


async def find_email_of_subscriber(conn: AsyncConnection, subscriber_id: int) -> EmailAddressRow | None:
    row = (await conn.execute(_email_row_query().where(addresses.c.subscriber_id == subscriber_id))).one_or_none()
    return None if row is None else EmailAddressRow(*row)


async def subscriber_exists(conn: AsyncConnection, subscriber_id: int) -> bool:
    found = await conn.execute(select(subscribers.c.id).where(subscribers.c.id == subscriber_id))
    return found.one_or_none() is not None


async def create_subscriber(conn: AsyncConnection, now: datetime) -> int:
    """A new subscriber with no address yet; returns its id."""
    result = await conn.execute(subscribers.insert().values(created_at=now))
    return int(result.inserted_primary_key[0])


async def set_pending_email(conn: AsyncConnection, subscriber_id: int, address: str, now: datetime) -> None:
    """Give the subscriber *address* as their email, waiting for double opt-in (replacing any other address).

    A changed address starts over: pending, unconfirmed, no bounces. Queued mail for the old address is cancelled.
    The same address in other case is no change: the spelling on file is kept.
    """
    current = await find_email_of_subscriber(conn, subscriber_id)
    if current is None:
        email = NewAddress(ChannelName.EMAIL, address, DEFAULT_CADENCE[ChannelName.EMAIL], AddressStatus.PENDING)
        await conn.execute(addresses.insert().values(_address_row(subscriber_id, email, now)))
        return
    if email_key(current.address) != email_key(address):
        await deactivate_address(
            conn, ChannelName.EMAIL.value, subscriber_id, AddressStatus.PENDING, "email address changed", now
        )
        await conn.execute(
            update(addresses)
            .where(addresses.c.subscriber_id == subscriber_id, addresses.c.channel == ChannelName.EMAIL.value)
            .values(address=address, email_key=email_key(address), confirmed_at=None, bounce_count=0, updated_at=now)
        )
    elif current.status != AddressStatus.ACTIVE.value:
        await conn.execute(
            update(addresses)
            .where(addresses.c.subscriber_id == subscriber_id, addresses.c.channel == ChannelName.EMAIL.value)
            .values(status=AddressStatus.PENDING.value, updated_at=now)
        )


async def mark_confirmation_sent(
    conn: AsyncConnection, subscriber_id: int, sent_at: datetime | None, now: datetime
) -> None:
    """Record when the last confirmation mail went out (None after a failed send, so the reader can retry)."""
    await conn.execute(
        update(addresses)
        .where(addresses.c.subscriber_id == subscriber_id, addresses.c.channel == ChannelName.EMAIL.value)
        .values(confirmation_sent_at=sent_at, updated_at=now)
    )


async def activate_email(conn: AsyncConnection, subscriber_id: int, now: datetime) -> None:
    """Double opt-in done: the address receives mail from now on, with a clean bounce record."""
    await conn.execute(
        update(addresses)
        .where(
            addresses.c.subscriber_id == subscriber_id,
            addresses.c.channel == ChannelName.EMAIL.value,
            addresses.c.status != AddressStatus.ACTIVE.value,
        )
        .values(status=AddressStatus.ACTIVE.value, confirmed_at=now, bounce_count=0, updated_at=now)
    )


async def unsubscribe_email(conn: AsyncConnection, subscriber_id: int, now: datetime) -> bool:
    """Stop all mail to the subscriber's email address at once; True if it was receiving (or awaiting) mail.

    Idempotent; a bounced address stays bounced. Queued deliveries are cancelled, so nothing more is sent.
    """
    current = await find_email_of_subscriber(conn, subscriber_id)
    if current is None or current.status not in (AddressStatus.ACTIVE.value, AddressStatus.PENDING.value):
        return False
    await deactivate_address(
        conn, ChannelName.EMAIL.value, subscriber_id, AddressStatus.INACTIVE, "unsubscribed by the reader", now
    )
    return True


async def record_hard_bounce(
    conn: AsyncConnection, channel: str, subscriber_id: int, reason: str, limit: int, now: datetime
) -> bool:
    """Count one hard failure of an address; at *limit* it is marked bounced and its queue cancelled.

    Returns True when this bounce was the one that stopped the address.
    """
    where = (addresses.c.subscriber_id == subscriber_id, addresses.c.channel == channel)
    counted = update(addresses).where(*where).values(bounce_count=addresses.c.bounce_count + 1, updated_at=now)
    await conn.execute(counted)
    row = (await conn.execute(select(addresses.c.bounce_count, addresses.c.status).where(*where))).one_or_none()
    if row is None or row.bounce_count < limit or row.status == AddressStatus.BOUNCED.value:
        return False
    reason = f"bounced {row.bounce_count} times, last: {reason}"
    await deactivate_address(conn, channel, subscriber_id, AddressStatus.BOUNCED, reason, now)
    return True


@dataclass(frozen=True, slots=True)
class ReaderAddress:
    channel: str
    address: str
    cadence: str
    status: str
    breaking_email: bool


@dataclass(frozen=True, slots=True)
class ReaderPreferences:
    """What a reader's preference page shows: their addresses by channel and the topics they follow."""

    subscriber_id: int
    addresses: dict[str, ReaderAddress]
    topics: list[str]


async def load_reader_preferences(conn: AsyncConnection, subscriber_id: int) -> ReaderPreferences | None:
    if not await subscriber_exists(conn, subscriber_id):
        return None
    rows = await conn.execute(
        select(
            addresses.c.channel,
            addresses.c.address,
            addresses.c.cadence,
            addresses.c.status,
            addresses.c.breaking_email,
        )
        .where(addresses.c.subscriber_id == subscriber_id)
        .order_by(addresses.c.channel)
    )
    found = {row.channel: ReaderAddress(*row) for row in rows}
    topics = await conn.execute(
        select(follows.c.topic).where(follows.c.subscriber_id == subscriber_id).order_by(follows.c.topic)
    )
    return ReaderPreferences(subscriber_id, found, list(topics.scalars()))


async def save_reader_preferences(
    conn: AsyncConnection,
    subscriber_id: int,
    *,
    topics: Sequence[str],
    cadences: dict[str, Cadence],
    breaking_email: bool,
    now: datetime,
) -> None:
    """Replace what a reader follows and how often each channel hears from us.

    A channel switched off has its queued mail cancelled, so the change takes effect before the next send.
    """
    await conn.execute(delete(follows).where(follows.c.subscriber_id == subscriber_id, follows.c.topic.not_in(topics)))
    await set_follows(conn, subscriber_id, topics, now)
    for channel, cadence in cadences.items():
        values: dict[str, object] = {"cadence": cadence.value, "updated_at": now}
        if channel == ChannelName.EMAIL.value:
            values["breaking_email"] = breaking_email
        await conn.execute(
            update(addresses)
            .where(addresses.c.subscriber_id == subscriber_id, addresses.c.channel == channel)
            .values(**values)
        )
        if cadence is Cadence.OFF:
            await conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.subscriber_id == subscriber_id,
                    deliveries.c.channel == channel,
                    deliveries.c.status == DeliveryStatus.PENDING.value,
                )
                .values(status=DeliveryStatus.CANCELLED.value, last_error="switched off by the reader", updated_at=now)
            )


def digest_item_key(week: str) -> str:
    return f"digest:{week}"


def _digest_audience(start: datetime, end: datetime) -> Select:
    """Active weekly-cadence addresses whose owner follows a topic of at least one story stored in [start, end)."""
    has_a_story = exists().where(
        follows.c.subscriber_id == addresses.c.subscriber_id,
        story_topics.c.topic == follows.c.topic,
        stories.c.id == story_topics.c.story_id,
        stories.c.created_at >= start,
        stories.c.created_at < end,
    )
    return select(addresses.c.subscriber_id, addresses.c.channel).where(
        addresses.c.status == AddressStatus.ACTIVE.value, addresses.c.cadence == Cadence.WEEKLY.value, has_a_story
    )


async def plan_digest_deliveries(
    conn: AsyncConnection, week: str, start: datetime, end: datetime, now: datetime
) -> int:
    """Queue the week's digest for every weekly reader with something to read, in one INSERT ... SELECT.

    Readers whose topics had no story that week get no row at all (nobody gets an empty digest); the unique key
    (item, subscriber, channel) makes planning the same week twice harmless.
    """
    audience = _digest_audience(start, end).subquery()
    return await _queue_deliveries(conn, audience, digest_item_key(week), Priority.DIGEST, now, story_id=None)


async def count_digest_audience(conn: AsyncConnection, week: str, start: datetime, end: datetime) -> dict[str, int]:
    """Per channel, how many digests planning *week* now would add (readers not yet queued for it)."""
    audience = (
        _digest_audience(start, end)
        .where(
            ~exists().where(
                deliveries.c.item_key == digest_item_key(week),
                deliveries.c.subscriber_id == addresses.c.subscriber_id,
                deliveries.c.channel == addresses.c.channel,
            )
        )
        .subquery()
    )
    counts = {c.value: 0 for c in ChannelName}
    rows = await conn.execute(select(audience.c.channel, func.count()).group_by(audience.c.channel))
    counts.update({row[0]: row[1] for row in rows})
    return counts


@dataclass(frozen=True, slots=True)
class DigestStory:
    id: str
    title: str
    summary: str
    url: str | None
    breaking: bool
    created_at: datetime
    topics: tuple[str, ...]


async def load_week_stories(conn: AsyncConnection, start: datetime, end: datetime) -> list[DigestStory]:
    """The stories stored in [start, end) with their topics, newest first."""
    rows = list(
        await conn.execute(
            select(
                stories.c.id,
                stories.c.title,
                stories.c.summary,
                stories.c.url,
                stories.c.breaking,
                stories.c.created_at,
            )
            .where(stories.c.created_at >= start, stories.c.created_at < end)
            .order_by(stories.c.created_at.desc(), stories.c.id)
        )
    )
    topics: dict[str, list[str]] = {row.id: [] for row in rows}
    ids = list(topics)
    for begin in range(0, len(ids), CHUNK):
        for story_id, topic in await conn.execute(
            select(story_topics.c.story_id, story_topics.c.topic)
            .where(story_topics.c.story_id.in_(ids[begin : begin + CHUNK]))
            .order_by(story_topics.c.story_id, story_topics.c.position)
        ):
            topics[story_id].append(topic)
    return [DigestStory(*row, topics=tuple(topics[row.id])) for row in rows]


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


# --- Delivery status (`newsbot status`) ----------------------------------------------------------------------


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
