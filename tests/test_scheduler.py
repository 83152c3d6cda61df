"""Without a bot, ``newsbot run`` schedules the weekly digest itself: no python-telegram-bot Application is built."""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

import pytest

from bot.app.config import Settings
from bot.app.scheduler import next_digest_at, next_planning_at
from tests.telegram_session import eventually, running_service

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (dt.datetime(2026, 11, 27, 18, 0, tzinfo=BERLIN), dt.datetime(2026, 11, 27, 18, 30, tzinfo=BERLIN)),
        (dt.datetime(2026, 11, 27, 18, 30, tzinfo=BERLIN), dt.datetime(2026, 12, 4, 18, 30, tzinfo=BERLIN)),
        (dt.datetime(2026, 11, 28, 9, 0, tzinfo=BERLIN), dt.datetime(2026, 12, 4, 18, 30, tzinfo=BERLIN)),
        (dt.datetime(2026, 11, 23, 23, 0, tzinfo=dt.UTC), dt.datetime(2026, 11, 27, 18, 30, tzinfo=BERLIN)),
        # the clocks go forward on 2027-03-28: the digest keeps its local hour
        (dt.datetime(2027, 3, 20, 12, 0, tzinfo=BERLIN), dt.datetime(2027, 3, 26, 18, 30, tzinfo=BERLIN)),
    ],
    ids=["later-today", "exactly-now", "tomorrow-on", "utc-input", "dst"],
)
def test_the_next_digest_is_the_configured_weekday_and_local_time(now: dt.datetime, expected: dt.datetime) -> None:
    settings = Settings(digest_weekday="friday", digest_time=dt.time(18, 30), digest_timezone="Europe/Berlin")
    assert next_digest_at(settings, now) == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Saturday: the week ends (Monday 00:00 Berlin) before the Friday digest hour comes again
        (dt.datetime(2026, 11, 28, 9, 0, tzinfo=BERLIN), dt.datetime(2026, 11, 30, 0, 0, tzinfo=BERLIN)),
        # Monday: the configured Friday hour comes first
        (dt.datetime(2026, 11, 30, 0, 0, tzinfo=BERLIN), dt.datetime(2026, 12, 4, 18, 30, tzinfo=BERLIN)),
    ],
    ids=["week-end-first", "digest-hour-first"],
)
def test_planning_also_happens_at_the_end_of_every_week(now: dt.datetime, expected: dt.datetime) -> None:
    """Readers whose local digest hour comes before the outlet's are queued as soon as the week is over."""
    settings = Settings(digest_weekday="friday", digest_time=dt.time(18, 30), digest_timezone="Europe/Berlin")
    assert next_planning_at(settings, now) == expected


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
