"""Embargoes: a story that goes out at a given moment, moved or cancelled until then, and topped up when it lifts.

A story with ``publish_at`` (front matter, the API's field, ``newsbot ingest --at``) is planned at ingest like
any other, but its deliveries and social posts wait with ``not_before = publish_at``, so the claim query of every
worker holds them with no extra check, and the digest counts it in the week it is published. Until then an editor
may move it (:func:`reschedule_story`) or cancel it (:func:`cancel_scheduled_story`: its queued messages and posts
are cancelled, the story is kept and marked withdrawn). Once the moment has passed, or anything of it was sent,
both are refused.

Planning at ingest fixes the audience as it was then; :func:`top_up_published` (run every
:data:`TOP_UP_SECONDS` by ``newsbot run``'s scheduler) plans the story again when its embargo lifts, so readers who
followed its topics in the meantime get it too (planning is idempotent: nobody is queued twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.app.errors import InvalidSchedule, StoryAlreadySent, StoryNotFound
from bot.app.newsroom import Newsroom
from bot.editors.audit import SendChange
from bot.outbox.reader_hours import fit_story_to_readers
from bot.outbox.social import queue_social_posts
from bot.stories.story import Story
from subscribers import deliveries, stories, story_states
from subscribers.story_states import StoryState

log = logging.getLogger(__name__)

#: How often ``newsbot run`` looks for embargoes that lifted, to queue their new followers.
TOP_UP_SECONDS = 30.0
#: How far back the first look after a start goes (an embargo that lifted while newsbot was down).
TOP_UP_LOOKBACK = timedelta(hours=1)
_EXAMPLE = "such as 2026-12-02T06:00+01:00"


@dataclass(frozen=True, slots=True)
class ScheduleReport:
    """What moving or cancelling an embargo did."""

    story_id: str
    title: str
    #: The embargo before and after (after: None when cancelled).
    previous: datetime | None
    publish_at: datetime | None
    cancelled: bool
    #: Deliveries moved (or cancelled) per channel, and social posts.
    deliveries: dict[str, int]
    social_posts: int

    @property
    def total(self) -> int:
        return sum(self.deliveries.values())


def parse_publish_at(text: str) -> datetime:
    """An ISO 8601 moment with its UTC offset (``2026-12-02T06:00+01:00``); a naive time is refused.

    Without an offset "06:00" would be a different instant on every server.
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidSchedule(f"{text!r} is not an ISO 8601 date and time {_EXAMPLE}") from None
    return require_aware(moment)


def require_aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidSchedule(f"{moment.isoformat()} has no UTC offset; give one, {_EXAMPLE}")
    return moment


async def _schedulable(newsroom: Newsroom, story_id: str) -> StoryState:
    """The story, if its embargo can still change: refused once it went out (say when) or was withdrawn."""
    now = newsroom.clock.now()
    async with newsroom.reader.connect() as conn:
        state = await story_states.load_story_state(conn, story_id)
        sent = await story_states.count_sent(conn, story_id) if state is not None else 0
    if state is None:
        raise StoryNotFound(f"no story with id {story_id!r}")
    if state.retracted_at is not None:
        raise StoryAlreadySent(f"story {story_id} was withdrawn at {state.retracted_at:%Y-%m-%d %H:%M %Z}")
    if state.publish_at is None or state.publish_at <= now or sent:
        went = state.publish_at or state.created_at
        raise StoryAlreadySent(
            f"story {story_id} already went out (at {went:%Y-%m-%d %H:%M %Z}); its schedule can no longer change"
        )
    return state


async def reschedule_story(newsroom: Newsroom, story_id: str, publish_at: datetime, *, actor: str) -> ScheduleReport:
    """Move a story's embargo to *publish_at* (a moment in the past means now); audited as ``schedule``."""
    require_aware(publish_at)
    state = await _schedulable(newsroom, story_id)
    now = newsroom.clock.now()
    new_time = max(publish_at, now)
    async with newsroom.engine.begin() as conn:
        moved, posts = await story_states.move_schedule(conn, story_id, new_time, now)
        before, after = {"publish_at": _iso(state.publish_at)}, {"publish_at": _iso(new_time)}
        change = SendChange("schedule", story_id, state.title, moved, posts, before, after)
        await change.record(conn, actor=actor, at=now)
    if new_time <= now:
        newsroom.notify_published()
    return ScheduleReport(story_id, state.title, state.publish_at, new_time, False, moved, posts)


async def cancel_scheduled_story(newsroom: Newsroom, story_id: str, *, actor: str) -> ScheduleReport:
    """Cancel a story that has not gone out: nothing of it will be sent; it stays stored, marked withdrawn."""
    state = await _schedulable(newsroom, story_id)
    now = newsroom.clock.now()
    async with newsroom.engine.begin() as conn:
        cancelled, posts = await story_states.cancel_schedule(conn, story_id, now)
        before, after = {"publish_at": _iso(state.publish_at)}, {"publish_at": None, "withdrawn": True}
        change = SendChange("schedule.cancel", story_id, state.title, cancelled, posts, before, after)
        await change.record(conn, actor=actor, at=now)
    return ScheduleReport(story_id, state.title, state.publish_at, None, True, cancelled, posts)


async def top_up_published(newsroom: Newsroom, since: datetime, until: datetime) -> int:
    """Plan again the stories whose embargo lifted in (since, until]: followers who joined meanwhile are queued,
    and social destinations added meanwhile get their post. Returns the deliveries added."""
    async with newsroom.reader.connect() as conn:
        lifted = await story_states.stories_published_between(conn, since, until)
    added = 0
    for story_id in lifted:
        async with newsroom.engine.begin() as conn:
            story = await stories.load_story(conn, story_id, Story)
            if story is None:
                continue
            added += await deliveries.plan_story_deliveries(conn, story, until)
            key = deliveries.story_item_key(story.id)
            await fit_story_to_readers(conn, key, newsroom.settings, until, breaking=story.breaking)
            await queue_social_posts(conn, newsroom.distribution, story, until)
    if added:
        log.info("embargoes lifted: %d stories, %d more readers queued", len(lifted), added)
        newsroom.notify_published()
    return added


async def top_up_loop(newsroom: Newsroom, stop: asyncio.Event) -> None:
    """Every :data:`TOP_UP_SECONDS`, top up the stories whose embargo lifted since the last look."""
    since = newsroom.clock.now() - TOP_UP_LOOKBACK
    while not stop.is_set():
        until = newsroom.clock.now()
        try:
            await top_up_published(newsroom, since, until)
            since = until
        except Exception:
            log.exception("topping up published embargoes failed; trying again")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=TOP_UP_SECONDS)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
