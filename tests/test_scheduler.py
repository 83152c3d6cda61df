"""Without a bot, ``newsbot run`` schedules the weekly digest itself: no python-telegram-bot Application is built."""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

import pytest

from bot.app.config import Settings
from bot.app.scheduler import PLANNING_TICK, next_planning_at
from tests.telegram_session import eventually, running_service

BERLIN = ZoneInfo("Europe/Berlin")


TOKYO = ZoneInfo("Asia/Tokyo")
KOLKATA = ZoneInfo("Asia/Kolkata")


@pytest.mark.parametrize(
    ("now", "zones", "expected"),
    [
        # Sunday afternoon UTC: Monday 00:00 comes to Tokyo first
        (dt.datetime(2026, 11, 29, 14, 50, tzinfo=dt.UTC), {"Asia/Tokyo"}, dt.datetime(2026, 11, 30, tzinfo=TOKYO)),
        # no other zone: the outlet's week end, if it is within a tick
        (dt.datetime(2026, 11, 29, 23, 50, tzinfo=BERLIN), set(), dt.datetime(2026, 11, 30, tzinfo=BERLIN)),
        # a half-hour zone ends its week at :30 UTC
        (dt.datetime(2026, 11, 29, 18, 20, tzinfo=dt.UTC), {"Asia/Kolkata"}, dt.datetime(2026, 11, 30, tzinfo=KOLKATA)),
        # the clocks go forward on 2027-03-28 in Berlin: the week still ends at local midnight
        (dt.datetime(2027, 3, 28, 21, 55, tzinfo=dt.UTC), set(), dt.datetime(2027, 3, 29, tzinfo=BERLIN)),
        # Monday morning: planned again at the digest hour (readers who turned to the digest since the week ended)
        (dt.datetime(2026, 11, 30, 6, 50, tzinfo=BERLIN), set(), dt.datetime(2026, 11, 30, 7, tzinfo=BERLIN)),
    ],
    ids=["tokyo-first", "outlet", "half-hour-zone", "dst", "digest-hour"],
)
def test_planning_happens_as_each_zones_week_ends(now: dt.datetime, zones: set[str], expected: dt.datetime) -> None:
    settings = Settings(digest_weekday="monday", digest_time=dt.time(7, 0), digest_timezone="Europe/Berlin")
    assert next_planning_at(settings, now, zones) == expected


def test_between_week_ends_planning_looks_again_every_tick() -> None:
    """A zone a reader chose since the last planning is found within a tick."""
    settings = Settings(digest_weekday="monday", digest_time=dt.time(7, 0), digest_timezone="UTC")
    wednesday = dt.datetime(2026, 11, 25, 12, 3, tzinfo=dt.UTC)
    assert next_planning_at(settings, wednesday, {"Asia/Tokyo"}) == wednesday + PLANNING_TICK


async def test_without_a_token_the_digest_is_planned_at_start_up_with_no_application(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="newsbot"):
        async with running_service(settings.model_copy(update={"web_port": 0})) as service:
            assert service.application is None
            await eventually(
                lambda: any(r.getMessage().startswith("weekly digest 2") for r in caplog.records),
                what="the start-up planning",
            )
    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith("weekly digest: ") for m in messages), "the schedule is logged"
    assert any(m.startswith("weekly digest 2") for m in messages), "planned once at start-up"
    running = next(m for m in messages if m.startswith("running:"))
    assert "scheduler" in running
