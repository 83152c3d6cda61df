"""When a message may reach a reader in their own time: the digest at the configured local day and hour in each
reader's zone, and nothing but (by choice) breaking news inside their quiet hours.

Planning queues rows as before, then :func:`fit_story_to_readers` and :func:`fit_digest_to_readers` move each
group of readers sharing a zone and quiet hours to its own ``not_before`` in the same transaction, so a crash
leaves either no rows or rows already due at the right time, and the outbox's unique key still sends each once.
A retry whose next attempt falls inside the reader's quiet hours waits for their end too
(:func:`fit_retries_to_readers`, in the transaction that records the failure).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.app.config import WEEKDAYS, Settings
from bot.app.errors import NewsbotError
from bot.outbox.digest_weeks import DigestWeek, digest_zone, parse_week
from subscribers import reader_time
from subscribers.errors import N_
from subscribers.reader_time import ReaderTime
from subscribers.schema import Priority


class UnknownZone(NewsbotError):
    """A time zone name the tz database does not know."""


_UNKNOWN_ZONE = N_("unknown time zone %(name)s: expected a name such as Europe/Berlin")


class InvalidQuietHours(NewsbotError):
    """Quiet hours that are not two times of day."""


def parse_zone(name: str) -> str:
    """*name* as an IANA zone name the tz database knows (``Asia/Tokyo``); UnknownZone for anything else."""
    cleaned = name.strip()
    if cleaned.upper() == "UTC":
        return "UTC"
    if not cleaned or cleaned.startswith("/") or ".." in cleaned:
        raise UnknownZone(_UNKNOWN_ZONE, name=repr(name))
    try:
        ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownZone(_UNKNOWN_ZONE, name=repr(name)) from None
    return cleaned


def parse_minutes(text: str, field: str) -> int:
    """``22:00`` as minutes after midnight (1320); InvalidQuietHours naming *field* for anything else."""
    hours, sep, minutes = text.strip().partition(":")
    if sep and hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60 and len(minutes) == 2:
        return int(hours) * 60 + int(minutes)
    raise InvalidQuietHours(N_("%(field)s: expected a time such as 22:00, not %(text)s"), field=field, text=repr(text))


def zone_of(name: str | None, settings: Settings) -> tzinfo:
    """A reader's zone: their own, else the outlet's (a zone no longer known falls back to the outlet's too)."""
    if name is None:
        return digest_zone(settings)
    try:
        return UTC if name == "UTC" else ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return digest_zone(settings)


def _at_local(day: dt.date, minutes: int, zone: tzinfo) -> datetime:
    """*minutes* after midnight of *day* in *zone*, in UTC (a time the clocks skip maps just past the gap)."""
    local = datetime.combine(day, dt.time(minutes // 60, minutes % 60), tzinfo=zone)
    return local.astimezone(UTC)


def quiet_hours_end(moment: datetime, zone: tzinfo, quiet_from: int, quiet_until: int) -> datetime | None:
    """When the quiet hours around *moment* end, or None when *moment* is outside them.

    The hours may wrap midnight (22:00–07:00); equal bounds mean no quiet hours.
    """
    local = moment.astimezone(zone)
    minute = local.hour * 60 + local.minute
    if quiet_from == quiet_until:
        return None
    if quiet_from < quiet_until:
        inside = quiet_from <= minute < quiet_until
    else:
        inside = minute >= quiet_from or minute < quiet_until
    if not inside:
        return None
    end = _at_local(local.date(), quiet_until, zone)
    return end if end > moment else _at_local(local.date() + timedelta(days=1), quiet_until, zone)


def after_quiet_hours(moment: datetime, time: ReaderTime, zone: tzinfo, *, breaking: bool) -> datetime:
    """*moment*, or the end of the reader's quiet hours when it falls inside them and the message waits."""
    if not time.has_quiet_hours or (breaking and not time.quiet_holds_breaking):
        return moment
    assert time.quiet_from is not None and time.quiet_until is not None
    return quiet_hours_end(moment, zone, time.quiet_from, time.quiet_until) or moment


def local_digest_time(week: DigestWeek, zone: tzinfo, settings: Settings) -> datetime:
    """When *week*'s digest reaches a reader in *zone*: the configured weekday and hour of the following week in
    their own calendar (*week* is their local week, so it is over by then)."""
    next_monday = week.end.astimezone(zone).date()
    day = next_monday + timedelta(days=WEEKDAYS.index(settings.digest_weekday))
    minutes = settings.digest_time.hour * 60 + settings.digest_time.minute
    return max(_at_local(day, minutes, zone), week.end)


async def fit_story_to_readers(
    conn: AsyncConnection, item_key: str, settings: Settings, now: datetime, *, breaking: bool
) -> int:
    """Hold a story's queued rows of readers in quiet hours until those end; returns how many rows moved."""
    moved = 0
    for group in await reader_time.pending_groups(conn, item_key, quiet_only=True):
        zone = zone_of(group.reader_time.timezone, settings)
        due = after_quiet_hours(group.not_before, group.reader_time, zone, breaking=breaking)
        if due != group.not_before:
            moved += await reader_time.move_group(conn, item_key, group, due, now)
    return moved


async def fit_retries_to_readers(
    conn: AsyncConnection, delivery_ids: Sequence[int], settings: Settings, now: datetime
) -> int:
    """Hold retried deliveries whose next attempt falls inside their reader's quiet hours until those end (breaking
    news only when the reader chose that it waits too); returns how many moved."""
    moves = []
    for held in await reader_time.quiet_hour_deliveries(conn, delivery_ids):
        zone = zone_of(held.reader_time.timezone, settings)
        breaking = held.priority == Priority.BREAKING
        due = after_quiet_hours(held.not_before, held.reader_time, zone, breaking=breaking)
        if due != held.not_before:
            moves.append((held, due))
    return await reader_time.move_deliveries(conn, moves, now)


async def fit_digest_to_readers(
    conn: AsyncConnection, item_key: str, week_key: str, settings: Settings, now: datetime
) -> int:
    """Move a week's freshly queued digest rows (due as the reader's local week ends) to each reader's local digest
    time, past their quiet hours; rows already moved keep their time. Returns how many rows moved."""
    moved = 0
    for group in await reader_time.pending_groups(conn, item_key, quiet_only=False):
        zone = zone_of(group.reader_time.timezone, settings)
        week = parse_week(week_key, zone)
        if group.not_before != week.end:
            continue
        due = after_quiet_hours(local_digest_time(week, zone, settings), group.reader_time, zone, breaking=False)
        if due != group.not_before:
            moved += await reader_time.move_group(conn, item_key, group, due, now)
    return moved
