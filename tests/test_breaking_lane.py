"""Breaking news overtakes the bulk inside a worker: deliveries already claimed wait, and each channel has its own
line, so a channel whose sends wait never holds up the other.

Telegram sends go through the real rate limiter to the fake Bot API; the limiter's waits are held on a gate the
test opens (on a manual clock, so no test waits for real time), which keeps normal deliveries claimed and waiting
while the test queues a breaking story.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.app.config import Settings
from bot.app.newsroom import Newsroom
from bot.channels import build_channels
from bot.channels.telegram import TelegramChannel
from bot.channels.telegram_rate_limit import TelegramRateLimiter
from bot.outbox.worker import DeliveryWorker
from bot.stories.intake import ingest_story, prepare_story
from bot.stories.parsing import parse_story
from subscribers.schema import Cadence, ChannelName
from tests.fakes import FakeBotAPI, SmtpSink
from tests.fakes.clock import GatedSleep, HeldClock, ManualMonotonic
from tests.newsroom_fixtures import add_reader
from tests.telegram_session import eventually

BATCH = 40
IN_FLIGHT = 4


def gated_telegram(newsroom: Newsroom, bot_api: FakeBotAPI, tmp_path: Path) -> tuple[TelegramChannel, GatedSleep]:
    clock = ManualMonotonic()
    gate = GatedSleep(clock)
    settings = newsroom.settings.model_copy(
        update={"telegram_token": "123456:TEST", "telegram_api_url": bot_api.base_url, "data_dir": tmp_path}
    )
    limiter = TelegramRateLimiter(10.0, clock=clock, sleep=gate)
    return TelegramChannel.from_settings(settings, rate_limiter=limiter), gate


async def queue(newsroom: Newsroom, topic: str, text: str, *, breaking: bool = False) -> str:
    front = f"---\ntopics: [{topic}]\nbreaking: {'true' if breaking else 'false'}\n---\n"
    story = prepare_story(
        parse_story(front + text, max_bytes=newsroom.settings.max_story_bytes),
        settings=newsroom.settings,
        taxonomy=newsroom.taxonomy,
        tagger=newsroom.tagger,
    )
    await ingest_story(newsroom, story)
    return story.title


async def held_at_the_gate(gate: GatedSleep) -> None:
    async with asyncio.timeout(30):
        await gate.held.wait()


async def test_a_breaking_story_queued_while_normal_ones_are_claimed_goes_out_before_them(
    newsroom: Newsroom, bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    for chat in range(100):
        await add_reader(newsroom, "local", telegram_chat=str(1000 + chat))
    for chat in range(5):
        await add_reader(newsroom, "weather", telegram_chat=str(2000 + chat))
    normal = await queue(newsroom, "local", "The council met on Tuesday and approved the new library budget.")
    telegram, gate = gated_telegram(newsroom, bot_api, tmp_path)
    gate.opened.set()  # the limiter's waits pass at once; the fake holds the sends' answers instead
    answers = bot_api.hold("sendMessage")
    worker = DeliveryWorker(newsroom, {"telegram": telegram}, batch_size=BATCH, concurrency=IN_FLIGHT)
    draining = asyncio.create_task(worker.drain())
    # A batch claimed, as many sends in flight as the worker allows, the rest of the batch in its hands: no more
    # can start until these are answered and recorded.
    await eventually(lambda: len(bot_api.calls_to("sendMessage")) == IN_FLIGHT, what="the sends in flight")
    breaking = await queue(newsroom, "weather", "A storm warning was issued for the valley tonight.", breaking=True)
    answers.set()
    report = await draining
    await telegram.aclose()

    assert report.sent == {"telegram": 105}
    order = [normal if normal in (message.text or "") else breaking for message in bot_api.sent_messages]
    first = order.index(breaking)
    assert order[first : first + 5] == [breaking] * 5  # all five together
    # Only the sends already in flight went ahead; before, the claimed batch did (up to 40 more).
    assert first <= IN_FLIGHT


async def test_a_channel_whose_sends_wait_never_holds_up_the_other(
    newsroom: Newsroom, bot_api: FakeBotAPI, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    for chat in range(3 * BATCH):  # more chats than a batch, queued before the emails
        await add_reader(newsroom, "local", telegram_chat=str(3000 + chat))
    await queue(newsroom, "local", "The council met on Tuesday and approved the new library budget.")
    for n in range(5):
        await add_reader(
            newsroom, "weather", email=f"reader{n}@example.org", cadences={ChannelName.EMAIL: Cadence.INSTANT}
        )
    await queue(newsroom, "weather", "The forecast says rain all weekend across the county.")
    telegram, gate = gated_telegram(newsroom, bot_api, tmp_path)
    live = newsroom.settings.model_copy(update={"smtp_url": smtp_sink.url})
    email = build_channels(live)["email"]
    worker = DeliveryWorker(newsroom, {"telegram": telegram, "email": email}, batch_size=BATCH, concurrency=IN_FLIGHT)
    draining = asyncio.create_task(worker.drain())
    await held_at_the_gate(gate)
    # Telegram is held at the gate while the emails go out.
    await eventually(lambda: len(smtp_sink.messages) >= 5, what="the five emails", within=30)
    assert not gate.opened.is_set() and len(bot_api.sent_messages) < 3 * BATCH
    gate.opened.set()
    report = await draining
    await telegram.aclose()
    await email.aclose()
    assert report.sent == {"telegram": 3 * BATCH, "email": 5}


async def test_an_idle_worker_hears_at_once_of_a_story_another_process_queued_on_postgresql(
    settings: Settings, bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    """Two newsrooms on one store stand for two processes: the web side queues, the worker sends.

    The worker's clock holds its waits until the test ends them, so its next poll (an hour away) comes only when
    the test says: on PostgreSQL the notice cuts its wait short; on SQLite nothing does, and the story goes out at
    the poll.
    """
    live = settings.model_copy(update={"telegram_token": "123456:TEST", "telegram_api_url": bot_api.base_url})
    async with await Newsroom.open(live) as web_side, await Newsroom.open(live) as worker_side:
        await add_reader(web_side, "weather", telegram_chat="4000")
        clock = HeldClock()
        channels = build_channels(live)
        worker = DeliveryWorker(worker_side, channels, clock=clock)
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop, poll_interval=3600))
        async with asyncio.timeout(30):
            await clock.asleep()  # nothing due: waiting for its next poll
        title = await queue(web_side, "weather", "A storm warning was issued for the valley tonight.", breaking=True)
        told = web_side.engine.dialect.name == "postgresql"
        if not told:  # SQLite cannot tell another process: its workers find the story at their next poll
            assert clock.waiting and clock.cut_short == 0 and not bot_api.sent_messages
            clock.end_waits()
        await eventually(lambda: bool(bot_api.sent_messages), what="the breaking story sent", within=30)
        async with asyncio.timeout(30):
            await clock.asleep(waits=2)  # sent, and waiting for its next poll again
        assert clock.cut_short == (1 if told else 0)  # what ended the first wait: the notice, or the poll
        assert [title in (message.text or "") for message in bot_api.sent_messages] == [True]
        stop.set()
        await running
        for channel in channels.values():
            await channel.aclose()
