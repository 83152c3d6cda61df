"""The event loop never waits behind parsing: a 5 MB feed and a story are prepared in the parsing process; nor
behind the collector going through start-up's objects, nor a fan-out starting its sends all at once.

Each test measures the work itself in the same run (the parse done on the loop, on purpose, first; the sends
started in one piece) and compares the loop's lag with it, so the bound follows the machine's speed rather than a
fixed number of milliseconds.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest

from bot.app.config import Settings
from bot.app.cpu_pool import in_lane, off_loop
from bot.app.garbage_collection import freeze_start_up_objects
from bot.app.loop_lag import LoopLagMonitor
from bot.app.newsroom import Newsroom
from bot.channels.telegram import TelegramChannel
from bot.outbox.delivery_pump import DISPATCH_CHUNK
from bot.outbox.worker import DeliveryWorker
from bot.stories.feeds import FeedEntry, poll_feeds, read_feed
from bot.stories.intake import ingest_story, prepare_for, prepare_off_loop
from bot.stories.parsing import parse_story
from subscribers import readers
from subscribers.preferences import build_subscriber
from tests.fakes import FakeBotAPI
from tests.fakes.big_feed import PARAGRAPH, big_feed
from tests.fakes.clock import ManualClock
from tests.fakes.http_endpoints import FeedHost
from tests.newsroom_fixtures import add_reader

T = TypeVar("T")


async def watched(work: Awaitable[T]) -> tuple[T, LoopLagMonitor]:
    """*work*'s result and a monitor that sampled the loop while it ran."""
    monitor, done = LoopLagMonitor(), asyncio.Event()
    sampling = asyncio.create_task(monitor.run(done))
    await asyncio.sleep(0)  # the monitor's first wait starts before the work does
    try:
        return await work, monitor
    finally:
        done.set()
        await sampling  # its last sample, the one that waited behind the work


@pytest.fixture
async def archive_room(settings: Settings, feed_host: FeedHost) -> AsyncIterator[Newsroom]:
    room = await Newsroom.open(settings.model_copy(update={"feeds": (feed_host.url("/archive.xml"),)}))
    try:
        yield room
    finally:
        await room.close()


async def test_a_5_mb_feed_is_parsed_without_stalling_the_loop(archive_room: Newsroom, feed_host: FeedHost) -> None:
    await add_reader(archive_room, "local", telegram_chat="101")
    content = big_feed(5_000_000, now=datetime.now(UTC))
    feed_host.publish("/archive.xml", content)

    async def parse_on_the_loop() -> float:  # what the loop went through before: the monitor must see it
        started = time.perf_counter()
        read_feed(content)
        return time.perf_counter() - started

    parse_seconds, blocked = await watched(parse_on_the_loop())
    report, monitor = await watched(poll_feeds(archive_room))

    assert len(report.ingested) == 2 and report.results[0].skipped > 300  # the two fresh entries; the archive seen
    assert blocked.max_lag >= parse_seconds * 0.8  # the monitor does see a stall
    assert monitor.samples >= 10  # it ran all along the poll
    assert monitor.max_lag < parse_seconds / 5, (monitor.max_lag, parse_seconds)


async def test_a_long_story_is_prepared_without_stalling_the_loop(archive_room: Newsroom) -> None:
    text = "\n\n".join([PARAGRAPH.removeprefix("<p>").removesuffix("</p>")] * 1000)
    draft = parse_story(text, max_bytes=archive_room.settings.max_story_bytes)
    await off_loop(len, b"")  # the pool's process is up: starting it is not what this measures
    started = time.thread_time()
    on_the_loop = prepare_for(archive_room, draft, source="api")  # what the loop went through before
    cpu = time.thread_time() - started

    done, turns = asyncio.Event(), []
    measuring = asyncio.create_task(turn_cpu(done, turns))
    try:
        prepared = await prepare_off_loop(archive_room, draft, source="api")
    finally:
        done.set()
        await measuring

    assert prepared == on_the_loop and "local" in prepared.topics
    # CPU of the loop's thread per turn, not wall time: on a busy machine a preempted loop is not a stalled one.
    assert max(turns) < cpu / 5, (max(turns), cpu)


def parse_once_told(go: str, content: bytes) -> list[FeedEntry]:
    """A feed parse in its lane that starts only once the file *go* exists: until the test creates it, the lane is
    busy however fast the machine parses (a failure guard gives up waiting after 60 s)."""
    for _ in range(6000):
        if os.path.exists(go):
            break
        time.sleep(0.01)
    return read_feed(content)


async def test_a_story_is_not_held_up_by_a_feed_being_parsed(archive_room: Newsroom, tmp_path: Path) -> None:
    await asyncio.gather(in_lane("feeds", len, b""), off_loop(len, b""))  # both lanes' processes are up
    draft = parse_story(PARAGRAPH.removeprefix("<p>").removesuffix("</p>"), max_bytes=10_000)
    go = tmp_path / "go"
    content = big_feed(5_000_000, now=datetime.now(UTC))
    parsing = asyncio.create_task(in_lane("feeds", parse_once_told, str(go), content))
    await asyncio.sleep(0)  # the parse is handed to its pool first
    try:
        async with asyncio.timeout(30):
            story = await prepare_off_loop(archive_room, draft, source="api")
        assert "local" in story.topics
        assert not parsing.done()  # the story came back while the feeds lane was still busy
    finally:
        go.touch()
    assert len(await parsing) > 300


def full_collection_seconds() -> float:
    """The shortest of three full collections: the collector's own cost, not a moment the machine was busy."""
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        gc.collect()
        timings.append(time.perf_counter() - started)
    return min(timings)


def test_a_full_collection_leaves_out_what_start_up_created() -> None:
    # This test process holds everything a `newsbot run` imports (and pytest): start-up, as the collector sees it
    # once the suite's own freeze (tests/conftest.py) is undone.
    gc.unfreeze()
    try:
        assert len(gc.get_objects()) > 100_000
        before = full_collection_seconds()
        frozen = freeze_start_up_objects()
        cycles = [[n] for n in range(1000)]  # created after the freeze: still looked at, and freed
        for cycle in cycles:
            cycle.append(cycle)
        del cycles, cycle
        freed = gc.collect()
        after = full_collection_seconds()
    finally:
        gc.freeze()  # hidden again, as the suite keeps them

    assert frozen > 100_000 and freed >= 1000
    assert after < before / 5, (after, before)


FAN_OUT_CHATS = 256
#: Sends in flight at once in the test: twice the worker's usual 64, so that a burst of their first steps stands out.
IN_FLIGHT = 128


class StandingClock(ManualClock):
    """A clock that only the test moves (it never does here)."""

    def __init__(self) -> None:
        super().__init__()
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        return self.at + self.offset


async def turn_cpu(done: asyncio.Event, turns: list[float]) -> None:
    """Until *done*: the CPU the loop's thread spent on each turn of the loop (this task runs once a turn, after
    what was ready before it). CPU, not wall time: another process taking the core (this machine is shared) does
    not count, only work on this loop does."""
    before = time.thread_time()
    while not done.is_set():
        await asyncio.sleep(0)
        now = time.thread_time()
        turns.append(now - before)
        before = now


async def longest_turn_of_fan_out(
    room: Newsroom, telegram: TelegramChannel, *, dispatch_chunk: int, lead: str
) -> float:
    """The longest turn of the loop while a worker sent a new story to every chat, `IN_FLIGHT` sends in flight and
    *dispatch_chunk* of them started per turn (`IN_FLIGHT`: each group commit's in one piece).

    The worker knows before the first send that the story is not stopped, and its clock stands still, so it never
    asks the store again (a question every send would wait for, one after the other, spreading them out)."""
    body = "\n\n".join([PARAGRAPH.removeprefix("<p>").removesuffix("</p>")] * 12)  # near Telegram's 4096 characters
    draft = parse_story(f"---\ntopics: [local]\n---\n{lead}\n\n{body}", max_bytes=100_000)
    story = (await ingest_story(room, prepare_for(room, draft, source="api"))).story
    worker = DeliveryWorker(room, {"telegram": telegram}, batch_size=IN_FLIGHT, clock=StandingClock())
    worker.in_flight_limit, worker.dispatch_chunk = IN_FLIGHT, dispatch_chunk
    assert await worker.halted.why_halted(story.id) is None  # known from here on: no send waits to ask
    turns: list[float] = []
    done = asyncio.Event()
    sampling = asyncio.create_task(turn_cpu(done, turns))
    try:
        report = await worker.drain()
    finally:
        done.set()
        await sampling
    assert report.sent == {"telegram": FAN_OUT_CHATS}
    return max(turns)


async def test_a_fan_out_starts_its_sends_a_few_at_a_time(newsroom: Newsroom, bot_api: FakeBotAPI) -> None:
    chats = [
        build_subscriber(newsroom.taxonomy, telegram_chat=str(5000 + n), email=None, topics=("local",))
        for n in range(FAN_OUT_CHATS)
    ]
    async with newsroom.engine.begin() as conn:
        await readers.add_subscribers(conn, chats, datetime.now(UTC))
    live = newsroom.settings.model_copy(update={"telegram_token": "123456:TEST", "telegram_api_url": bot_api.base_url})
    telegram = TelegramChannel.from_settings(live)  # no rate limiter: each send goes straight to the fake
    gc.disable()  # no collection lands in a sample (how long those take is the test above's)
    try:
        # A first fan-out pays what is paid once (templates, the bot's getMe, connections); then the same one both ways.
        await longest_turn_of_fan_out(
            newsroom, telegram, dispatch_chunk=DISPATCH_CHUNK, lead="The council met on Monday."
        )
        whole = await longest_turn_of_fan_out(
            newsroom, telegram, dispatch_chunk=IN_FLIGHT, lead="It met again on Tuesday."
        )
        chunked = await longest_turn_of_fan_out(
            newsroom, telegram, dispatch_chunk=DISPATCH_CHUNK, lead="And on Wednesday."
        )
    finally:
        gc.enable()
        await telegram.aclose()

    # Started in one turn, the sends hold the loop for all their first steps (a message and its request, about
    # 0.5 ms each); started DISPATCH_CHUNK at a time, a turn holds a few of them and the loop's other work.
    assert chunked < whole / 3, (chunked, whole)
