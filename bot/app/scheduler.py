"""The weekly digest's schedule in ``newsbot run``: when it is planned, and what planning it does.

Each reader's digest covers their own local ISO week, so planning happens as each zone's week ends: at start-up,
then at the next Monday 00:00 of any readers' zone (or the outlet's), again at each zone's digest hour
(``NEWSBOT_DIGEST_WEEKDAY`` ``NEWSBOT_DIGEST_TIME`` there, for readers who turned to the digest in between), and
at least every :data:`PLANNING_TICK` so a zone a reader chose since is not missed (15 minutes catches the :30 and
:45 offsets too). Each reader's rows wait for the digest hour in their zone (:mod:`bot.outbox.reader_hours`).

With a bot, the planner runs as a job of the Application's JobQueue (:func:`bot.app.process.schedule_jobs`).
Without one there is no Application at all (no stand-in token, no python-telegram-bot machinery):
:func:`digest_loop` is a plain background loop. Both use :class:`DigestPlanner`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Iterable

from bot.app.config import Settings
from bot.app.newsroom import Newsroom
from bot.outbox.digest_planning import PlanningMark, ZoneName, queue_due_digests
from bot.outbox.digest_weeks import last_complete_week, week_of
from bot.outbox.reader_hours import local_digest_time, zone_of
from bot.outbox.worker import DeliveryWorker

logger = logging.getLogger("newsbot")

#: Planning looks for zones whose week has ended at least this often.
PLANNING_TICK = dt.timedelta(minutes=15)


def describe_schedule(settings: Settings) -> str:
    """ "fridays at 18:30 in each reader's zone (default Europe/Berlin)": the schedule as the start-up log shows it."""
    return (
        f"{settings.digest_weekday}s at {settings.digest_time:%H:%M} in each reader's zone"
        f" (default {settings.digest_timezone})"
    )


def next_planning_moment(settings: Settings, now: dt.datetime, zones: Iterable[ZoneName]) -> dt.datetime:
    """The first Monday 00:00, or digest hour, strictly after *now* in any of *zones* (None: the outlet's zone)."""
    moments = []
    for name in {None, *zones}:
        zone = zone_of(name, settings)
        current = week_of(now, zone)
        last = last_complete_week(now, zone)
        moments.append(current.end)
        moments.extend(
            at
            for at in (local_digest_time(last, zone, settings), local_digest_time(current, zone, settings))
            if at > now
        )
    return min(moments)


def next_planning_at(settings: Settings, now: dt.datetime, zones: Iterable[ZoneName] = ()) -> dt.datetime:
    """When to plan next: as the next local week ends or digest hour comes, or after one tick if that is sooner."""
    return min(next_planning_moment(settings, now, zones), now + PLANNING_TICK)


class DigestPlanner:
    """Plans each zone's digest once its week is over and again at its digest hour, remembering what it planned
    while it runs (a restart plans again, which queues nothing twice)."""

    def __init__(self, newsroom: Newsroom, worker: DeliveryWorker | None) -> None:
        self.newsroom = newsroom
        self.worker = worker
        self._planned: set[PlanningMark] = set()
        self._zones: set[ZoneName] = set()

    async def plan(self) -> None:
        """Queue the digests of the zones whose week ended since the last planning, then wake the worker."""
        result = await queue_due_digests(self.newsroom, clock=self.newsroom.clock, planned=self._planned)
        self._planned, self._zones = result.due, result.zones
        for report in result.reports:
            queued = ", ".join(f"{channel} {count}" for channel, count in report.queued.items())
            logger.info("weekly digest %s: %d stories; queued %s", report.week, report.stories, queued)
        if result.reports and self.worker is not None:  # workers in other processes find them at their next poll
            self.worker.wake()

    def seconds_to_next(self) -> float:
        """How long until the next planning is due."""
        now = self.newsroom.clock.now()
        return max(0.0, (next_planning_at(self.newsroom.settings, now, self._zones) - now).total_seconds())


async def digest_loop(newsroom: Newsroom, worker: DeliveryWorker | None, stop: asyncio.Event) -> None:
    """Plan now (a digest whose hour passed while newsbot was down still goes out), then as each week ends.

    A planning that fails is logged and tried again at the next planning time, as the JobQueue does with a job.
    """
    planner = DigestPlanner(newsroom, worker)
    while not stop.is_set():
        try:
            await planner.plan()
        except Exception:
            logger.exception("weekly digest planning failed; trying again at the next planning time")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=planner.seconds_to_next())
