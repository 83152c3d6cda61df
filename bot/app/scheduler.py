"""The weekly digest's schedule in ``newsbot run``: when it is planned, and what planning it does.

With a bot, the digest is a job of the Application's JobQueue (:func:`bot.app.process.schedule_jobs`). Without
one there is no Application at all (no stand-in token, no python-telegram-bot machinery): :func:`digest_loop`
is a plain background loop that plans at start-up, at the end of every week and at every
``NEWSBOT_DIGEST_WEEKDAY`` ``NEWSBOT_DIGEST_TIME`` in ``NEWSBOT_DIGEST_TIMEZONE``. Both run
:func:`plan_weekly_digest`; each reader's rows wait for their own local digest time
(:mod:`bot.outbox.reader_hours`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from bot.app.config import WEEKDAYS, Settings
from bot.app.newsroom import Newsroom
from bot.outbox.digest_planning import queue_weekly_digests
from bot.outbox.digest_weeks import digest_zone
from bot.outbox.worker import DeliveryWorker

logger = logging.getLogger("newsbot")


async def plan_weekly_digest(newsroom: Newsroom, worker: DeliveryWorker | None) -> None:
    """Queue the last week's digests (idempotent), then wake the worker to send them."""
    report = await queue_weekly_digests(newsroom, clock=newsroom.clock)
    queued = ", ".join(f"{channel} {count}" for channel, count in report.queued.items())
    logger.info("weekly digest %s: %d stories; queued %s", report.week, report.stories, queued)
    if worker is not None:  # workers in other processes find the digests at their next poll
        worker.wake()


def describe_schedule(settings: Settings) -> str:
    """ "fridays at 18:30 Europe/Berlin": the schedule as the start-up log shows it."""
    return f"{settings.digest_weekday}s at {settings.digest_time:%H:%M} {settings.digest_timezone}"


def next_digest_at(settings: Settings, now: dt.datetime) -> dt.datetime:
    """The first digest time strictly after *now*: the configured weekday and local time in the digest's zone."""
    zone = digest_zone(settings)
    local = now.astimezone(zone)
    weekday = WEEKDAYS.index(settings.digest_weekday)  # 0 = Monday, as date.weekday()
    day = local.date() + dt.timedelta(days=(weekday - local.weekday()) % 7)
    at = dt.datetime.combine(day, settings.digest_time, tzinfo=zone)
    return at if at > local else dt.datetime.combine(day + dt.timedelta(days=7), settings.digest_time, tzinfo=zone)


def next_planning_at(settings: Settings, now: dt.datetime) -> dt.datetime:
    """The next time to plan: the configured digest time, or the end of a week if that comes first (readers
    whose local digest hour comes before the outlet's get their rows queued as soon as the week is over)."""
    zone = digest_zone(settings)
    local = now.astimezone(zone)
    monday = local.date() + dt.timedelta(days=7 - local.weekday())
    week_end = dt.datetime.combine(monday, dt.time(), tzinfo=zone)
    return min(next_digest_at(settings, now), week_end)


async def digest_loop(newsroom: Newsroom, worker: DeliveryWorker | None, stop: asyncio.Event) -> None:
    """Plan the digest now (a digest whose hour passed while newsbot was down still goes out), then every week.

    A planning that fails is logged and tried again at the next digest time, as the JobQueue does with a job.
    """
    while not stop.is_set():
        try:
            await plan_weekly_digest(newsroom, worker)
        except Exception:
            logger.exception("weekly digest planning failed; trying again at the next digest time")
        now = newsroom.clock.now()
        wait = (next_planning_at(newsroom.settings, now) - now).total_seconds()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=wait)
