"""Planning the weekly digest: each weekly-cadence reader gets the stories of their own local ISO week for the
topics they follow, once.

A reader's week is Monday 00:00 to Monday 00:00 in their zone (none set: the outlet's), so Tokyo's week ends 14
hours before New York's and local weeks tile time: every story is in exactly one of a reader's digests. Readers
are planned in zone groups, those whose local week has the same bounds: one set-based ``INSERT ... SELECT`` per
group queues ``digest:<ISO week>`` for every active weekly address with at least one story in that week, so
nobody gets an empty digest, and the unique key (item, subscriber, channel) makes a rerun queue nothing new. The
delivery worker then asks :class:`bot.outbox.digest_messages.DigestMessages` for each message, like it asks
`StoryMessages` for stories.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.app.clock import Clock
from bot.app.config import Settings
from bot.app.newsroom import Newsroom
from bot.outbox.digest_weeks import DigestWeek, InvalidWeek, digest_zone, last_complete_week, parse_week
from bot.outbox.reader_hours import fit_digest_to_readers, local_digest_time, zone_of
from subscribers import deliveries
from subscribers import stories as stories_store
from subscribers.deliveries import ZoneGroup
from subscribers.schema import ChannelName

#: A stored reader zone (None: the reader has none, so the outlet's).
ZoneName = str | None


@dataclass
class DigestReport:
    """What planning one week's digest did (or, on a dry run, would do)."""

    week: str
    label: str
    #: Stories in the weeks planned (the readers' local weeks together).
    stories: int
    #: Digests newly queued per channel; on a dry run, those that would be.
    queued: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False
    #: Readers with news so far whose local week is not over yet, per channel: planning queues them later.
    waiting: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.queued.values())

    @property
    def total_waiting(self) -> int:
        return sum(self.waiting.values())


@dataclass(frozen=True, slots=True)
class ZoneWeek:
    """One zone group and its local week: readers planned with one statement."""

    week: DigestWeek
    group: ZoneGroup


def zone_weeks(key: str, names: Iterable[ZoneName], settings: Settings) -> list[ZoneWeek]:
    """ISO week *key* for the readers of each stored zone in *names*, grouped by the week's bounds (Europe/Berlin
    and Europe/Paris share theirs); readers without a zone, or with one no longer known, go by the outlet's."""
    outlet = digest_zone(settings)
    found: dict[tuple[datetime, datetime], tuple[DigestWeek, set[str], bool]] = {}
    for name in names:
        week = parse_week(key, zone_of(name, settings))
        entry = found.setdefault((week.start, week.end), (week, set(), False))
        if name is None:
            found[(week.start, week.end)] = (entry[0], entry[1], True)
        else:
            entry[1].add(name)
    groups = [ZoneWeek(week, ZoneGroup(frozenset(named), unset)) for week, named, unset in found.values()]
    # The outlet's own week first: it names the report.
    return sorted(groups, key=lambda zw: (zw.week.zone != outlet, zw.week.start))


def _counts() -> dict[str, int]:
    return {channel.value: 0 for channel in ChannelName}


def _add(total: dict[str, int], counts: dict[str, int]) -> None:
    for channel, count in counts.items():
        total[channel] = total.get(channel, 0) + count


async def _stories_in(conn: AsyncConnection, weeks: Collection[ZoneWeek]) -> int:
    """How many stories the planned local weeks hold together (they overlap: one span from first to last)."""
    if not weeks:
        return 0
    start = min(zw.week.start for zw in weeks)
    end = max(zw.week.end for zw in weeks)
    return len(await stories_store.load_week_stories(conn, start, end))


async def _plan(
    conn: AsyncConnection, key: str, over: list[ZoneWeek], now: datetime, settings: Settings, *, dry_run: bool
) -> dict[str, int]:
    """Queue *key* for each zone group whose week is over, then move the rows to each reader's own digest time."""
    queued = _counts()
    for zw in over:
        _add(queued, await deliveries.count_digest_audience(conn, key, zw.week.start, zw.week.end, zw.group))
        if not dry_run:
            await deliveries.plan_digest_deliveries(conn, key, zw.week.start, zw.week.end, now, zw.group)
    if not dry_run and over:
        await fit_digest_to_readers(conn, deliveries.digest_item_key(key), key, settings, now)
    return queued


async def _waiting(conn: AsyncConnection, key: str, pending: list[ZoneWeek], now: datetime) -> dict[str, int]:
    """Readers of zone groups whose week is still going who have news in it so far."""
    waiting = _counts()
    for zw in pending:
        if zw.week.start < now:
            _add(waiting, await deliveries.count_digest_audience(conn, key, zw.week.start, now, zw.group))
    return waiting


async def queue_weekly_digests(
    newsroom: Newsroom, week: str | None = None, *, dry_run: bool = False, clock: Clock | None = None
) -> DigestReport:
    """Queue the digest of *week* (default: the last week complete in the outlet's zone) for every weekly reader
    with news in it whose own local week is over.

    Returns per channel how many digests were queued, and how many readers wait for their week to end (``newsbot
    run`` queues those when it does); a rerun queues nothing new. The delivery worker sends them (wake it, or run
    ``newsbot deliver``). Raises InvalidWeek for a malformed week or one that is over for no reader yet; *clock*
    (default: the newsroom's) says when "now" is.
    """
    settings = newsroom.settings
    outlet = digest_zone(settings)
    now = (clock or newsroom.clock).now()
    target = parse_week(week, outlet) if week else last_complete_week(now, outlet)
    connection = newsroom.reader.connect() if dry_run else newsroom.engine.begin()
    async with connection as conn:
        weeks = zone_weeks(target.key, {None, *await deliveries.weekly_zone_names(conn)}, settings)
        over = [zw for zw in weeks if zw.week.end <= now]
        if not over:
            first = min(zw.week.end for zw in weeks).astimezone(outlet)
            raise InvalidWeek(
                f"{target.key} is not over yet for any reader; its first digests can be sent from"
                f" {first:%A %Y-%m-%d %H:%M %Z}"
            )
        stories = await _stories_in(conn, over)
        queued = await _plan(conn, target.key, over, now, settings, dry_run=dry_run)
        waiting = await _waiting(conn, target.key, [zw for zw in weeks if zw.week.end > now], now)
    return DigestReport(target.key, target.label, stories, queued, dry_run=dry_run, waiting=waiting)


#: A zone's week planned (ISO week, zone), at its end (False) or again at the zone's digest hour (True).
PlanningMark = tuple[str, ZoneName, bool]


@dataclass
class DuePlanning:
    """What :func:`queue_due_digests` did: a report per week it planned, and what is due now."""

    reports: list[DigestReport]
    #: Every planning due now: each zone's last complete week, and again once its digest hour has come.
    due: set[PlanningMark]
    #: The zones stored for weekly readers (None: the outlet's), for when the next local week ends.
    zones: set[ZoneName]


def due_marks(now: datetime, zones: Iterable[ZoneName], settings: Settings) -> set[PlanningMark]:
    """For each zone, its last complete week, planned as it ended and again at the zone's digest hour (readers
    who turned to the weekly digest in between get it too, as before the hour)."""
    marks: set[PlanningMark] = set()
    for name in zones:
        zone = zone_of(name, settings)
        week = last_complete_week(now, zone)
        marks.add((week.key, name, False))
        if now >= local_digest_time(week, zone, settings):
            marks.add((week.key, name, True))
    return marks


async def queue_due_digests(
    newsroom: Newsroom, *, clock: Clock | None = None, planned: Collection[PlanningMark] = ()
) -> DuePlanning:
    """Queue, for every reader zone whose local week has ended, that week's digest (``newsbot run`` does this as
    each zone's week ends, and again at its digest hour); plannings in *planned* were done before and are not
    repeated.

    Idempotent like :func:`queue_weekly_digests`: a zone planned again queues nothing new.
    """
    settings = newsroom.settings
    now = (clock or newsroom.clock).now()
    reports: list[DigestReport] = []
    async with newsroom.engine.begin() as conn:
        zones: set[ZoneName] = {None, *await deliveries.weekly_zone_names(conn)}
        due = due_marks(now, zones, settings)
        by_week: dict[str, set[ZoneName]] = {}
        for key, name, _ in due - set(planned):
            by_week.setdefault(key, set()).add(name)
        for key, names in sorted(by_week.items()):
            over = zone_weeks(key, names, settings)
            stories = await _stories_in(conn, over)
            queued = await _plan(conn, key, over, now, settings, dry_run=False)
            reports.append(DigestReport(key, over[0].week.label, stories, queued))
    return DuePlanning(reports, due, zones)
