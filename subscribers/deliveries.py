"""The delivery queue: planning (who gets a story or the week's digest), claiming what is due, and recording
what happened to each send.

Planning is one ``INSERT ... SELECT`` per story or week, idempotent through the unique (item, subscriber,
channel) key; putting deliveries back in the queue is :mod:`subscribers.delivery_retry`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, false, func, literal, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement, Select, Subquery

from subscribers.database import insert_ignoring_conflicts
from subscribers.queue_notices import announce_queued
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
from subscribers.stories import StoryFields, status_if_still_stopped
from subscribers.story_language_filters import held_back_from, in_chosen_language


def story_item_key(story_id: str) -> str:
    return f"story:{story_id}"


def digest_item_key(week: str) -> str:
    return f"digest:{week}"


def _story_audience(topics: Sequence[str], breaking: bool, language: str | None = None) -> Select:
    """Active addresses that should get a story now: followers of any of its topics, by channel and cadence.

    Instant readers get every story; a breaking story also reaches weekly-cadence chats, and emails whose owner
    opted into breaking-news email. Everyone else waits for the weekly digest. A reader who chose story
    languages other than the story's *language* gets it on no channel (a story without one reaches everyone).
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
    audience = select(addresses.c.subscriber_id, addresses.c.channel).where(
        addresses.c.status == AddressStatus.ACTIVE.value, wants_it_now, follows_a_topic
    )
    if language is not None:
        audience = audience.where(addresses.c.subscriber_id.not_in(held_back_from(language)))
    return audience


@dataclass(frozen=True, slots=True)
class ZoneGroup:
    """Readers planned together for a digest: those whose stored time zone is one of *names*, and with *unset*
    those who have none (the outlet's). Readers of one group share their local week's bounds."""

    names: frozenset[str] = frozenset()
    unset: bool = True

    def condition(self) -> ColumnElement[bool]:
        """Whether an address's owner is in the group (the caller joins ``subscribers``)."""
        named = subscribers.c.timezone.in_(sorted(self.names)) if self.names else false()
        return or_(named, subscribers.c.timezone.is_(None)) if self.unset else named


def _digest_audience(start: datetime, end: datetime, zones: ZoneGroup | None = None) -> Select:
    """Active weekly-cadence addresses whose owner follows a topic of at least one story published in [start, end),
    narrowed to the readers of *zones* (None: every reader) whose local week is [start, end).

    A story is published when its embargo lifts, else when it was stored; a stopped or retracted one counts not,
    nor one in a language the reader did not choose (:func:`in_chosen_language`): the digest would leave it out,
    and a reader with nothing left would be queued a digest that cannot be sent.
    """
    published = func.coalesce(stories.c.publish_at, stories.c.created_at)
    has_a_story = exists().where(
        follows.c.subscriber_id == addresses.c.subscriber_id,
        story_topics.c.topic == follows.c.topic,
        stories.c.id == story_topics.c.story_id,
        published >= start,
        published < end,
        stories.c.stopped_at.is_(None),
        stories.c.retracted_at.is_(None),
        in_chosen_language(follows.c.subscriber_id, stories.c.language),
    )
    query = select(addresses.c.subscriber_id, addresses.c.channel).where(
        addresses.c.status == AddressStatus.ACTIVE.value, addresses.c.cadence == Cadence.WEEKLY.value, has_a_story
    )
    if zones is not None:
        query = query.join(subscribers, subscribers.c.id == addresses.c.subscriber_id).where(zones.condition())
    return query


async def weekly_zone_names(conn: AsyncConnection) -> set[str | None]:
    """The distinct time zones stored for readers with an active weekly address (None: readers without one)."""
    rows = await conn.execute(
        select(subscribers.c.timezone)
        .distinct()
        .join(addresses, addresses.c.subscriber_id == subscribers.c.id)
        .where(addresses.c.status == AddressStatus.ACTIVE.value, addresses.c.cadence == Cadence.WEEKLY.value)
    )
    return {row[0] for row in rows}


async def _queue_deliveries(
    conn: AsyncConnection,
    audience: Subquery,
    item_key: str,
    priority: Priority,
    now: datetime,
    *,
    story_id: str | None,
    not_before: datetime | None = None,
) -> int:
    """``INSERT INTO deliveries ... SELECT`` one pending row per (subscriber, channel) of *audience*, due at
    *not_before* (default: now); returns how many were added (existing (item, subscriber, channel) rows are left
    alone)."""
    source = select(
        literal(item_key),
        literal(story_id, deliveries.c.story_id.type),
        audience.c.subscriber_id,
        audience.c.channel,
        literal(int(priority)),
        literal(DeliveryStatus.PENDING.value),
        literal(0),
        literal(not_before or now, deliveries.c.not_before.type),
        literal(now, deliveries.c.created_at.type),
        literal(now, deliveries.c.updated_at.type),
    ).where(true())  # SQLite needs a WHERE to tell the SELECT's end from the ON CONFLICT clause
    columns = ["item_key", "story_id", "subscriber_id", "channel", "priority", "status", "attempts",
               "not_before", "created_at", "updated_at"]  # fmt: skip
    result = await conn.execute(insert_ignoring_conflicts(conn, deliveries).from_select(columns, source))
    added = max(result.rowcount, 0)
    if added:
        await announce_queued(conn)
    return added


async def plan_story_deliveries(conn: AsyncConnection, story: StoryFields, now: datetime) -> int:
    """Queue the story for every reader who should get it now, in one INSERT ... SELECT; returns rows added.

    Conflicts on (item, subscriber, channel) are ignored, so planning twice never queues anyone twice. An
    embargoed story's rows wait until its ``publish_at`` (the claim query holds them in every worker).
    """
    if not story.topics:
        return 0
    audience = _story_audience(story.topics, story.breaking, story.language).subquery()
    priority = Priority.BREAKING if story.breaking else Priority.NORMAL
    not_before = embargo_not_before(story.publish_at, now)
    return await _queue_deliveries(
        conn, audience, story_item_key(story.id), priority, now, story_id=story.id, not_before=not_before
    )


def embargo_not_before(publish_at: datetime | None, now: datetime) -> datetime:
    """When a message of a story may go: its embargo if that is still ahead, else now."""
    return publish_at if publish_at is not None and publish_at > now else now


async def count_story_audience(
    conn: AsyncConnection, topics: Sequence[str], breaking: bool, language: str | None = None
) -> dict[str, int]:
    """How many readers per channel a story would reach now (for dry runs and previews)."""
    counts = {c.value: 0 for c in ChannelName}
    if topics:
        audience = _story_audience(topics, breaking, language).subquery()
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


async def plan_digest_deliveries(
    conn: AsyncConnection,
    week: str,
    start: datetime,
    end: datetime,
    now: datetime,
    zones: ZoneGroup | None = None,
) -> int:
    """Queue the week's digest for every weekly reader of *zones* with something to read, in one INSERT ... SELECT.

    Readers whose topics had no story in [start, end) get no row at all (nobody gets an empty digest); the unique
    key (item, subscriber, channel) makes planning the same week twice harmless. New rows are due at *end*; the
    caller moves them to each reader's own digest time.
    """
    audience = _digest_audience(start, end, zones).subquery()
    return await _queue_deliveries(
        conn, audience, digest_item_key(week), Priority.DIGEST, now, story_id=None, not_before=end
    )


async def count_digest_audience(
    conn: AsyncConnection, week: str, start: datetime, end: datetime, zones: ZoneGroup | None = None
) -> dict[str, int]:
    """Per channel, how many digests planning *week* for *zones* now would add (readers not yet queued for it)."""
    audience = (
        _digest_audience(start, end, zones)
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


#: Each delivery with the address it goes to (the subscriber's address on the delivery's channel, if any).
deliveries_with_addresses = deliveries.outerjoin(
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
    priority: int  # `Priority`: lower goes first, in the worker too


async def claim_due_deliveries(
    conn: AsyncConnection,
    limit: int,
    now: datetime,
    worker_id: str | None = None,
    *,
    only_channels: Iterable[str] | None = None,
    skip_channels: Iterable[str] = (),
    most_urgent: int | None = None,
) -> list[ClaimedDelivery]:
    """Take up to *limit* due deliveries (breaking first, then oldest) and mark them as being sent by *worker_id*.

    PostgreSQL's ``FOR UPDATE SKIP LOCKED`` lets concurrent workers claim disjoint batches; SQLite gets the same
    from its single writer (the transaction holds the write lock from BEGIN IMMEDIATE). Rows whose address is no
    longer active are returned with ``address=None`` so the caller cancels them: an unsubscribe takes effect
    before the next send. *only_channels* and *skip_channels* narrow the claim (a paused channel is skipped, or
    probed with a claim of one); *most_urgent* takes only rows of that priority or a more urgent one (a worker
    holding digests fetches breaking news).
    """
    due = select(deliveries.c.id).where(
        deliveries.c.status == DeliveryStatus.PENDING.value, deliveries.c.not_before <= now
    )
    if only_channels is not None:
        due = due.where(deliveries.c.channel.in_(list(only_channels)))
    if most_urgent is not None:
        due = due.where(deliveries.c.priority <= most_urgent)
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
            deliveries.c.priority,
        )
        .select_from(deliveries_with_addresses)
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
    await _update_by_id(
        conn,
        sent,
        status=DeliveryStatus.SENT.value,
        provider_id=bindparam("b_provider"),
        attempts=deliveries.c.attempts + 1,
        sent_at=now,
        updated_at=now,
        last_error=None,
    )
    stopped = [{"b_id": o.delivery_id, "b_error": o.error} for o in outcomes if o.status is DeliveryStatus.STOPPED]
    await _update_by_id(
        conn,
        stopped,
        status=status_if_still_stopped(deliveries.c.story_id),
        last_error=bindparam("b_error"),
        not_before=now,
        updated_at=now,
    )
    others = [
        {
            "b_id": o.delivery_id,
            "b_status": o.status.value,
            "b_error": o.error,
            "b_retry": o.retry_at or now,
            # A cancelled delivery was never attempted, nor one that waits for its channel to come back.
            "b_tried": 0 if o.status is DeliveryStatus.CANCELLED or not o.attempted else 1,
        }
        for o in outcomes
        if o.status not in (DeliveryStatus.SENT, DeliveryStatus.STOPPED)
    ]
    await _update_by_id(
        conn,
        others,
        status=bindparam("b_status"),
        last_error=bindparam("b_error"),
        not_before=bindparam("b_retry", type_=deliveries.c.not_before.type),
        attempts=deliveries.c.attempts + bindparam("b_tried"),
        updated_at=now,
    )


async def _update_by_id(conn: AsyncConnection, rows: list[dict[str, Any]], **values: Any) -> None:
    """One executemany UPDATE of the deliveries whose ids *rows* give as ``b_id`` (nothing when there are none)."""
    if rows:
        await conn.execute(update(deliveries).where(deliveries.c.id == bindparam("b_id")).values(**values), rows)


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
