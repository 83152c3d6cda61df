"""The weeks of the weekly digest: ISO weeks in a reader's zone (``NEWSBOT_DIGEST_TIMEZONE`` for readers without one).

A week is Monday 00:00 to the next Monday 00:00 in the reader's zone; a story belongs to the week in which newsbot
stored it (so every story lands in exactly one of a reader's digests, whatever its ``published`` date says).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from bot.app.config import Settings
from bot.app.errors import NewsbotError
from bot.languages.catalogs import SOURCE_LANGUAGE
from bot.languages.formatting import date_range

_ISO_WEEK = re.compile(r"\s*(\d{4})-?W(\d{1,2})\s*", re.IGNORECASE)


class InvalidWeek(NewsbotError):
    """A week that is malformed, does not exist, or is not over yet."""


@dataclass(frozen=True, slots=True)
class DigestWeek:
    """An ISO week and its bounds in UTC (Monday 00:00 to Monday 00:00 in *zone*)."""

    key: str
    start: datetime
    end: datetime
    zone: tzinfo

    @property
    def label(self) -> str:
        """E.g. "November 23 – 29, 2026" (in the week's zone)."""
        return self.label_in(SOURCE_LANGUAGE)

    def label_in(self, language: str) -> str:
        """The week's span as *language* writes it: "November 23 – 29, 2026", "23.–29. Nov. 2026"."""
        first = self.start.astimezone(self.zone)
        last = (self.end - timedelta(seconds=1)).astimezone(self.zone)
        return date_range(first.date(), last.date(), language)


def digest_zone(settings: Settings) -> tzinfo:
    """The configured digest time zone (UTC works even on a machine without the tz database)."""
    return UTC if settings.digest_timezone == "UTC" else ZoneInfo(settings.digest_timezone)


def _week_starting(monday: dt.date, zone: tzinfo) -> DigestWeek:
    start = datetime.combine(monday, dt.time(), tzinfo=zone)
    end = datetime.combine(monday + timedelta(days=7), dt.time(), tzinfo=zone)
    year, week, _ = monday.isocalendar()
    return DigestWeek(f"{year}-W{week:02d}", start.astimezone(UTC), end.astimezone(UTC), zone)


def parse_week(text: str, zone: tzinfo) -> DigestWeek:
    """``2026-W48`` (ISO 8601 week) as a DigestWeek; InvalidWeek for anything else."""
    match = _ISO_WEEK.fullmatch(text)
    if match is None:
        raise InvalidWeek(f"invalid week {text!r}: expected an ISO week such as 2026-W48")
    try:
        monday = dt.date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise InvalidWeek(f"invalid week {text!r}: {match[1]} has no week {int(match[2])}") from None
    return _week_starting(monday, zone)


def week_of(moment: datetime, zone: tzinfo) -> DigestWeek:
    """The ISO week that contains *moment* in *zone*."""
    local = moment.astimezone(zone).date()
    return _week_starting(local - timedelta(days=local.weekday()), zone)


def last_complete_week(now: datetime, zone: tzinfo) -> DigestWeek:
    """The week a digest sent at *now* covers: the last one that has ended."""
    current = week_of(now, zone)
    return week_of(current.start - timedelta(seconds=1), zone)
