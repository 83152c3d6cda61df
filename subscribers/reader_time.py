"""Each reader's own time: their time zone and quiet hours, and moving queued deliveries to fit them.

Moving is set-based: :func:`pending_groups` lists the few distinct (zone, quiet hours, due time) combinations
among an item's pending rows, the caller works out each group's new due time, and :func:`move_group` updates
the whole group in one ``UPDATE``. Only rows still due at the time the group was read move, so running it twice
(or after a retry moved a row) changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.database import CHUNK
from subscribers.schema import DeliveryStatus, deliveries, subscribers


@dataclass(frozen=True, slots=True)
class ReaderTime:
    """A reader's zone (None: the outlet's) and quiet hours in minutes after local midnight (None: none)."""

    timezone: str | None = None
    quiet_from: int | None = None
    quiet_until: int | None = None
    quiet_holds_breaking: bool = False

    @property
    def has_quiet_hours(self) -> bool:
        return self.quiet_from is not None and self.quiet_until is not None


@dataclass(frozen=True, slots=True)
class PendingGroup:
    """Pending deliveries of one item whose readers share a :class:`ReaderTime` and a due time."""

    reader_time: ReaderTime
    not_before: datetime


_TIME_COLUMNS = (
    subscribers.c.timezone,
    subscribers.c.quiet_from,
    subscribers.c.quiet_until,
    subscribers.c.quiet_holds_breaking,
)


async def reader_time(conn: AsyncConnection, subscriber_id: int) -> ReaderTime:
    """The reader's zone and quiet hours (the defaults for a reader who is gone)."""
    row = (await conn.execute(select(*_TIME_COLUMNS).where(subscribers.c.id == subscriber_id))).first()
    return ReaderTime() if row is None else ReaderTime(*row)


async def reader_zones(conn: AsyncConnection, subscriber_ids: list[int]) -> dict[int, str | None]:
    """The time zone of each of *subscriber_ids* (None: the outlet's)."""
    rows = await conn.execute(
        select(subscribers.c.id, subscribers.c.timezone).where(subscribers.c.id.in_(subscriber_ids))
    )
    return {row[0]: row[1] for row in rows}


async def set_reader_time(conn: AsyncConnection, subscriber_id: int, value: ReaderTime) -> bool:
    """Store the reader's zone and quiet hours (validated by the caller); False when there is no such reader."""
    result = await conn.execute(
        update(subscribers)
        .where(subscribers.c.id == subscriber_id)
        .values(
            timezone=value.timezone,
            quiet_from=value.quiet_from,
            quiet_until=value.quiet_until,
            quiet_holds_breaking=value.quiet_holds_breaking,
        )
    )
    return result.rowcount > 0


async def pending_groups(conn: AsyncConnection, item_key: str, *, quiet_only: bool) -> list[PendingGroup]:
    """The distinct (reader time, due time) groups among *item_key*'s pending deliveries.

    With *quiet_only*, only readers with quiet hours (a story's other readers keep its due time).
    """
    query = (
        select(*_TIME_COLUMNS, deliveries.c.not_before)
        .distinct()
        .join_from(deliveries, subscribers, subscribers.c.id == deliveries.c.subscriber_id)
        .where(deliveries.c.item_key == item_key, deliveries.c.status == DeliveryStatus.PENDING.value)
    )
    if quiet_only:
        query = query.where(subscribers.c.quiet_from.is_not(None), subscribers.c.quiet_until.is_not(None))
    rows = await conn.execute(query)
    return [PendingGroup(ReaderTime(*row[:4]), row[4]) for row in rows]


async def move_group(
    conn: AsyncConnection, item_key: str, group: PendingGroup, not_before: datetime, now: datetime
) -> int:
    """Make *group*'s deliveries of *item_key* due at *not_before*; returns how many moved."""
    time = group.reader_time
    readers = select(subscribers.c.id).where(
        subscribers.c.timezone.is_not_distinct_from(time.timezone),
        subscribers.c.quiet_from.is_not_distinct_from(time.quiet_from),
        subscribers.c.quiet_until.is_not_distinct_from(time.quiet_until),
        subscribers.c.quiet_holds_breaking == time.quiet_holds_breaking,
    )
    result = await conn.execute(
        update(deliveries)
        .where(
            deliveries.c.item_key == item_key,
            deliveries.c.status == DeliveryStatus.PENDING.value,
            deliveries.c.not_before == group.not_before,
            deliveries.c.subscriber_id.in_(readers),
        )
        .values(not_before=not_before, updated_at=now)
    )
    return max(result.rowcount, 0)


@dataclass(frozen=True, slots=True)
class WaitingDelivery:
    """A pending delivery whose reader has quiet hours: when it is due, and how urgent it is (`Priority`)."""

    delivery_id: int
    priority: int
    not_before: datetime
    reader_time: ReaderTime


async def quiet_hour_deliveries(conn: AsyncConnection, delivery_ids: Sequence[int]) -> list[WaitingDelivery]:
    """Those of *delivery_ids* still pending whose reader has quiet hours (a chunk of ids per query)."""
    found: list[WaitingDelivery] = []
    ids = list(dict.fromkeys(delivery_ids))
    for begin in range(0, len(ids), CHUNK):
        rows = await conn.execute(
            select(deliveries.c.id, deliveries.c.priority, deliveries.c.not_before, *_TIME_COLUMNS)
            .join_from(deliveries, subscribers, subscribers.c.id == deliveries.c.subscriber_id)
            .where(
                deliveries.c.id.in_(ids[begin : begin + CHUNK]),
                deliveries.c.status == DeliveryStatus.PENDING.value,
                subscribers.c.quiet_from.is_not(None),
                subscribers.c.quiet_until.is_not(None),
            )
        )
        found.extend(WaitingDelivery(row[0], row[1], row[2], ReaderTime(*row[3:])) for row in rows)
    return found


async def move_deliveries(
    conn: AsyncConnection, moves: Sequence[tuple[WaitingDelivery, datetime]], now: datetime
) -> int:
    """Make each pending delivery due at its new time, if it is still due when it was read; returns how many moved."""
    if not moves:
        return 0
    result = await conn.execute(
        update(deliveries)
        .where(
            deliveries.c.id == bindparam("b_id"),
            deliveries.c.status == DeliveryStatus.PENDING.value,
            deliveries.c.not_before == bindparam("b_was", type_=deliveries.c.not_before.type),
        )
        .values(not_before=bindparam("b_due", type_=deliveries.c.not_before.type), updated_at=now),
        [{"b_id": held.delivery_id, "b_was": held.not_before, "b_due": due} for held, due in moves],
    )
    return max(result.rowcount, 0)
