"""Readers and their addresses: creating them (one by one or a whole CSV import), listing, erasing, stopping an
address, and what a reader's preference page reads and writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.bulk_statements import bound_value, indexes_built_after, insert_many, one_of
from subscribers.database import CHUNK, insert_ignoring_conflicts, reserve_ids, select_views
from subscribers.email_keys import address_key, email_key
from subscribers.follows import set_follows
from subscribers.garbage_collection import garbage_collection_paused
from subscribers.import_conflicts import import_conflict
from subscribers.import_owners import RefusedRows, RowOwners, row_owners
from subscribers.schema import (
    AddressStatus,
    Cadence,
    ChannelName,
    DeliveryStatus,
    addresses,
    deliveries,
    follows,
    subscribers,
)

#: New subscribers per bulk insert: large enough that per-statement costs vanish, small enough to show progress.
BATCH = 20_000
#: An import of fewer new readers than this keeps the indexes as they are (see add_subscribers).
REBUILD_INDEXES_FROM = 10_000


class NewAddress(NamedTuple):
    """One address of a subscriber to create. Named tuples, not frozen dataclasses, because an import builds
    three of these values per row and a frozen dataclass takes several times as long to construct."""

    channel: ChannelName
    address: str
    cadence: Cadence
    status: AddressStatus


class NewSubscriber(NamedTuple):
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
    """What an import did: readers created, known readers updated, addresses added to known readers, and the
    rows left out (index in the import -> why; see :mod:`subscribers.import_owners`)."""

    created: int
    merged: int
    added: int = 0
    refused: dict[int, str] = field(default_factory=dict)


#: The columns of a new address, in the order of :func:`address_values`.
ADDRESS_COLUMNS = (
    "subscriber_id", "channel", "address", "email_key", "cadence", "status", "breaking_email", "bounce_count",
    "confirmed_at", "created_at", "updated_at",
)  # fmt: skip


def address_values(subscriber_id: int, new: NewAddress, now: object, no: object) -> tuple[object, ...]:
    """A new address's values (see ``ADDRESS_COLUMNS``): no bounces, no breaking-news email; an email given as
    active counts as confirmed. *now* and *no* (false) come as the caller binds them: Python values for a
    statement, the driver's form for :func:`subscribers.bulk_statements.insert_many`."""
    confirmed = new.status is AddressStatus.ACTIVE and new.channel is ChannelName.EMAIL
    channel = str(new.channel)  # a StrEnum's str() is its value, at a third of the cost of .value (per address)
    return (
        subscriber_id, channel, new.address, address_key(channel, new.address), str(new.cadence), str(new.status),
        no, 0, now if confirmed else None, now, now,
    )  # fmt: skip


def address_row(subscriber_id: int, new: NewAddress, now: datetime, **extra: object) -> dict[str, object]:
    """A new address as a row for one insert (see :func:`address_values`)."""
    return {**dict(zip(ADDRESS_COLUMNS, address_values(subscriber_id, new, now, False), strict=True)), **extra}


async def find_subscriber_ids(conn: AsyncConnection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Map (channel, address) pairs to the subscriber that owns them, for those that exist.

    Email addresses match whatever their case (by ``email_key``); the result is keyed by the pairs as given.
    """
    email, telegram = ChannelName.EMAIL.value, ChannelName.TELEGRAM.value
    chats: list[str] = []
    emails: dict[str, list[tuple[str, str]]] = {}
    with garbage_collection_paused():
        for key in dict.fromkeys(keys):
            if key[0] == email:
                emails.setdefault(email_key(key[1]), []).append(key)
            else:
                chats.append(key[1])
    found: dict[tuple[str, str], int] = {}
    if chats:
        rows = await conn.execute(
            select(addresses.c.address, addresses.c.subscriber_id).where(
                addresses.c.channel == telegram, one_of(conn, addresses.c.address, chats)
            )
        )
        found.update({(telegram, r.address): r.subscriber_id for r in rows})
    if emails:
        known = one_of(conn, addresses.c.email_key, list(emails))
        query = select(addresses.c.email_key, addresses.c.address, addresses.c.subscriber_id)
        for row in await conn.execute(query.where(known)):
            # A key written by an earlier definition that happens to be another address's key is not this one.
            if email_key(row.address) == row.email_key:
                found.update(dict.fromkeys(emails[row.email_key], row.subscriber_id))
    return found


async def add_subscribers(
    conn: AsyncConnection,
    new: Sequence[NewSubscriber],
    now: datetime,
    progress: Callable[[int], None] | None = None,
    *,
    skip_refused: bool = False,
) -> ImportOutcome:
    """Create subscribers in bulk; a row with a known address updates that reader instead (see
    :mod:`subscribers.import_owners`): the row's topics are added, and so is its address the store does not hold.

    A row naming two readers is refused: :class:`subscribers.import_owners.RefusedRows` is raised before anything
    is written, or with *skip_refused* the row is left out and named in the outcome. One look-up finds the known
    addresses; ids are reserved up front so every table is filled with one bulk insert per batch (see
    :mod:`subscribers.bulk_statements`), all in the caller's transaction. An import of at least as many new
    readers as the store holds (and ``REBUILD_INDEXES_FROM`` or more) builds the tables' indexes again after the
    rows instead of growing them row by row. *progress*, if given, is called with the number of subscribers
    written so far after each batch. An address that still breaks a unique constraint raises
    :class:`subscribers.import_conflicts.ImportConflict` naming it; the caller's transaction then holds nothing of
    the import's rows.
    """
    anyone, plan = await _owners(conn, new)
    if plan.refused and not skip_refused:
        raise RefusedRows(plan.refused)
    to_create: list[NewSubscriber] = list(new) if not anyone else []
    merged_follows: list[dict[str, object]] = []
    merged = 0
    for i, (sub, owner) in enumerate(zip(new, plan.owners, strict=True)) if anyone else ():
        if owner is not None:
            merged += 1
            merged_follows.extend({"subscriber_id": owner, "topic": t, "created_at": now} for t in sub.topics)
        elif i not in plan.refused:
            to_create.append(sub)
    if merged_follows:
        await conn.execute(insert_ignoring_conflicts(conn, follows), merged_follows)
    if progress is not None:
        progress(merged)

    ids = await reserve_ids(conn, subscribers, len(to_create))
    when, no = bound_value(conn, subscribers.c.created_at, now), bound_value(conn, addresses.c.breaking_email, False)
    # As many new readers as the store holds already (ids start after the largest one): building the indexes
    # again once costs less than growing them by each row.
    rebuild = len(to_create) >= max(REBUILD_INDEXES_FROM, ids.start - 1)
    try:
        # A savepoint, so that after a unique conflict (see subscribers.import_conflicts) the store can still be
        # asked which address it was: PostgreSQL refuses every statement in a failed transaction.
        async with conn.begin_nested(), indexes_built_after(conn, (addresses, follows), rebuild):
            if plan.added:
                added = [address_values(owner, a, when, no) for owner, a in plan.added]
                await insert_many(conn, addresses, ADDRESS_COLUMNS, added)
            await _insert_new(conn, to_create, ids, (when, no), progress, merged)
    except IntegrityError as exc:
        written = [*to_create, *(NewSubscriber((a,), ()) for _, a in plan.added)]
        raise await import_conflict(conn, written, exc) from None
    return ImportOutcome(created=len(to_create), merged=merged, added=len(plan.added), refused=plan.refused)


async def refused_rows(conn: AsyncConnection, new: Sequence[NewSubscriber]) -> dict[int, str]:
    """The rows of *new* an import would refuse (see :func:`add_subscribers`), by index; writes nothing, so a
    file with other invalid rows can name these too."""
    return (await _owners(conn, new))[1].refused


async def _owners(conn: AsyncConnection, new: Sequence[NewSubscriber]) -> tuple[bool, RowOwners]:
    """Whether the store holds any address, and the known readers of *new*'s rows."""
    # A store without addresses yet (a first import) owns none of these: no need to send every address to look.
    if (await conn.execute(select(addresses.c.id).limit(1))).first() is None:
        return False, RowOwners(owners=[])
    existing = await find_subscriber_ids(conn, ((str(a.channel), a.address) for s in new for a in s.addresses))
    return True, await row_owners(conn, new, existing)


async def _insert_new(
    conn: AsyncConnection,
    to_create: list[NewSubscriber],
    ids: range,
    bound: tuple[object, object],
    progress: Callable[[int], None] | None,
    merged: int,
) -> None:
    """Write the new subscribers, their addresses and follows, ``BATCH`` subscribers per bulk insert; *bound* is
    the time and false as the driver takes them, *progress* is told *merged* plus the subscribers written."""
    when, no = bound
    for start in range(0, len(to_create), BATCH):
        batch = zip(to_create[start : start + BATCH], ids[start : start + BATCH], strict=True)
        subscriber_rows, address_rows, follow_rows = [], [], []
        with garbage_collection_paused():
            for sub, subscriber_id in batch:
                subscriber_rows.append((subscriber_id, when))
                address_rows.extend(address_values(subscriber_id, a, when, no) for a in sub.addresses)
                follow_rows.extend((subscriber_id, t, when) for t in dict.fromkeys(sub.topics))
        await insert_many(conn, subscribers, ("id", "created_at"), subscriber_rows)
        await insert_many(conn, addresses, ADDRESS_COLUMNS, address_rows)
        await insert_many(conn, follows, ("subscriber_id", "topic", "created_at"), follow_rows)
        if progress is not None:
            progress(merged + start + len(subscriber_rows))


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


async def subscriber_exists(conn: AsyncConnection, subscriber_id: int) -> bool:
    found = await conn.execute(select(subscribers.c.id).where(subscribers.c.id == subscriber_id))
    return found.one_or_none() is not None


async def create_subscriber(conn: AsyncConnection, now: datetime) -> int:
    """A new subscriber with no address yet; returns its id."""
    result = await conn.execute(subscribers.insert().values(created_at=now))
    return int(result.inserted_primary_key[0])


async def deactivate_address(
    conn: AsyncConnection, channel: str, subscriber_id: int, status: AddressStatus, reason: str, now: datetime
) -> None:
    """Stop sending to an address that is gone, and cancel what was still queued for it."""
    await conn.execute(
        update(addresses)
        .where(addresses.c.subscriber_id == subscriber_id, addresses.c.channel == channel)
        .values(status=status.value, updated_at=now)
    )
    await cancel_queued(conn, subscriber_id, channel, reason, now)


async def cancel_queued(conn: AsyncConnection, subscriber_id: int, channel: str, reason: str, now: datetime) -> None:
    """Cancel what is still queued for the subscriber on *channel*, so a change takes effect before the next send."""
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
    """One of a reader's addresses, as the preference page shows it and an update compares against it."""

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
    where = addresses.c.subscriber_id == subscriber_id
    listed = await select_views(conn, ReaderAddress, addresses, where, order_by=[addresses.c.channel])
    found = {address.channel: address for address in listed}
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
            await cancel_queued(conn, subscriber_id, channel, "switched off by the reader", now)
