"""Telegram's flood limits, kept by the client and checked by the fake Bot API's own clock-based enforcement.

The fake counts accepted sends over sliding windows and answers 429 above its limits, like Telegram; zero 429s
from it is the proof that the rate is respected. Retries and their backoff are specified here too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from telegram.ext import AIORateLimiter, ExtBot

from bot.app.config import Settings, load_settings
from bot.app.errors import ConfigurationError
from bot.app.newsroom import Newsroom
from bot.channels import OutgoingMessage, TemporaryFailure, build_channels
from bot.channels.telegram import TelegramChannel
from bot.channels.telegram_rate_limit import SlidingWindow, TelegramRateLimiter
from bot.outbox.worker import DeliveryWorker
from bot.stories.intake import ingest_story, prepare_story
from bot.stories.parsing import read_story_file
from subscribers import channel_health, readers
from subscribers.schema import AddressStatus, Cadence, ChannelName, deliveries
from tests.fakes import FakeBotAPI
from tests.fakes.clock import ManualMonotonic, SteppedMonotonic
from tests.newsroom_fixtures import SAMPLE_STORY

TOKEN = "123456:TEST"


def note(chat: int | str, n: int = 0) -> OutgoingMessage:
    return OutgoingMessage(key=f"m-{n}", address=str(chat), content=f"<b>News</b> {n}")


def limited_channel(api: FakeBotAPI, tmp_path: Path, limiter: object | None) -> TelegramChannel:
    settings = Settings(telegram_api_url=api.base_url, telegram_token=TOKEN, data_dir=tmp_path)
    return TelegramChannel.from_settings(settings, rate_limiter=limiter)  # type: ignore[arg-type]


@pytest.fixture
async def readers_newsroom(settings: Settings, bot_api: FakeBotAPI) -> AsyncIterator[Newsroom]:
    """A newsroom sending to the fake Bot API, at 10 messages a second."""
    live = settings.model_copy(
        update={"telegram_token": TOKEN, "telegram_api_url": bot_api.base_url, "telegram_rate": 10.0}
    )
    async with await Newsroom.open(live) as room:
        yield room


async def fan_out(newsroom: Newsroom, chats: range) -> None:
    """Subscribe one Telegram reader per chat id to north-korea, then ingest the sample story."""
    rows = [
        readers.NewSubscriber(
            addresses=(readers.NewAddress(ChannelName.TELEGRAM, str(chat), Cadence.INSTANT, AddressStatus.ACTIVE),),
            topics=("north-korea",),
        )
        for chat in chats
    ]
    async with newsroom.engine.begin() as conn:
        await readers.add_subscribers(conn, rows, datetime.now(UTC))
    story = prepare_story(
        read_story_file(SAMPLE_STORY, newsroom.settings.max_story_bytes),
        settings=newsroom.settings,
        taxonomy=newsroom.taxonomy,
        tagger=newsroom.tagger,
    )
    await ingest_story(newsroom, story)


async def drain(newsroom: Newsroom, *, wait_for_retries: float = 0.0) -> None:
    """Send what is due now (by default without waiting for retries, so that a test sees them scheduled)."""
    channels = build_channels(newsroom.settings)
    try:
        await DeliveryWorker(newsroom, channels).drain(wait_for_retries=wait_for_retries)
    finally:
        for channel in channels.values():
            await channel.aclose()


# --- the overall rate ------------------------------------------------------------------------------------


async def test_a_fan_out_at_the_configured_rate_gets_no_429_from_a_server_enforcing_it(
    readers_newsroom: Newsroom, bot_api: FakeBotAPI
) -> None:
    bot_api.rate_limit(10, per_chat_per_second=1)
    await fan_out(readers_newsroom, range(1001, 1026))
    # 2.5 s at the configured 10 a second, on a clock the limiter and the server's windows share, which jumps to
    # the end of the earliest wait instead of waiting for it.
    clock = SteppedMonotonic()
    bot_api.clock = clock
    rate = readers_newsroom.settings.telegram_messages_per_second
    limiter = TelegramRateLimiter(rate, clock=clock, sleep=clock.sleep)
    channels = {"telegram": TelegramChannel.from_settings(readers_newsroom.settings, rate_limiter=limiter)}
    try:
        await DeliveryWorker(readers_newsroom, channels).drain(wait_for_retries=0)
    finally:
        await channels["telegram"].aclose()
    assert clock.now >= 1002.0  # paced on that clock: the last five of 25 at 10 a second start two windows in
    assert bot_api.too_many_requests == 0
    assert sorted(m.chat_id for m in bot_api.sent_messages) == list(range(1001, 1026))


async def test_without_a_limiter_the_same_burst_is_refused_so_the_fake_does_enforce(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    bot_api.rate_limit(10)
    channel = limited_channel(bot_api, tmp_path, None)
    results = await asyncio.gather(*(channel.send(note(2000 + n, n)) for n in range(25)), return_exceptions=True)
    await channel.aclose()
    assert bot_api.too_many_requests > 0
    assert any(isinstance(r, TemporaryFailure) and r.retry_after == 1.0 for r in results)


async def test_ptb_aioratelimiter_overruns_a_sliding_window_with_its_initial_burst(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    """Why newsbot has its own limiter: a leaky bucket lets a second's worth through on top of the rate."""
    bot_api.rate_limit(10)
    channel = limited_channel(bot_api, tmp_path, AIORateLimiter(overall_max_rate=10, group_max_rate=0))
    results = await asyncio.gather(*(channel.send(note(3000 + n, n)) for n in range(25)), return_exceptions=True)
    await channel.aclose()
    assert bot_api.too_many_requests > 0
    assert any(isinstance(r, TemporaryFailure) for r in results)


# --- per chat --------------------------------------------------------------------------------------------


async def test_a_private_chat_gets_at_most_one_message_a_second(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    clock = ManualMonotonic()
    bot_api.clock = clock
    bot_api.rate_limit(None, per_chat_per_second=1)
    channel = limited_channel(bot_api, tmp_path, TelegramRateLimiter(30, clock=clock, sleep=clock.sleep))
    await asyncio.gather(*(channel.send(note(42, n)) for n in range(3)))
    await channel.aclose()
    assert bot_api.too_many_requests == 0
    assert len(bot_api.sent_to(42)) == 3
    first, second, third = bot_api.accepted_at
    assert second - first >= 1.0 and third - second >= 1.0


async def test_a_group_gets_at_most_its_quota_per_window_while_other_chats_go_on(
    bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    # Telegram's 20 a minute, scaled down to 3 per half second. What is checked is the order of arrivals while
    # waits overlap: a clock that the waiters share, jumping to the end of the earliest wait, gives that order.
    clock = SteppedMonotonic()
    bot_api.clock = clock
    bot_api.rate_limit(None, per_group=(3, 0.5))
    limiter = TelegramRateLimiter(30, group_chat=(3, 0.5), clock=clock, sleep=clock.sleep)
    channel = limited_channel(bot_api, tmp_path, limiter)
    await asyncio.gather(
        *(channel.send(note(-42, n)) for n in range(7)),
        *(channel.send(note(500 + n, n)) for n in range(5)),
    )
    await channel.aclose()
    assert bot_api.too_many_requests == 0
    assert len(bot_api.sent_to(-42)) == 7
    # The private chats did not queue behind the group: all five went out before the group's last message.
    group_last = max(at for m, at in zip(bot_api.sent_messages, bot_api.accepted_at, strict=True) if m.chat_id == -42)
    private = [at for m, at in zip(bot_api.sent_messages, bot_api.accepted_at, strict=True) if m.chat_id != -42]
    assert max(private) < group_last


def test_the_default_limits_are_telegrams() -> None:
    limiter = TelegramRateLimiter()
    assert (limiter.overall.limit, limiter.overall.period) == (30, 1.0)
    group = limiter._chat_window(-1001)
    private = limiter._chat_window(7)
    assert (group.limit, group.period) == (20, 60.0)
    assert (private.limit, private.period) == (1, 1.0)


def test_a_window_frees_a_slot_one_period_after_each_answer() -> None:
    window = SlidingWindow(20, 60.0)
    for _ in range(20):
        window.in_flight += 1
    assert window.delay(0.0) is None  # all twenty still in flight: wait for an answer
    for answered_at in range(20):
        window.release(float(answered_at))
    assert window.delay(30.0) == 30.0  # the first answer came at 0, so its slot frees at 60
    assert window.delay(60.0) == 0.0
    assert SlidingWindow.per_second(0.5).period == 2.0


# --- 429 -------------------------------------------------------------------------------------------------


async def test_a_429_pauses_every_send_for_exactly_the_time_telegram_asked(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    clock = ManualMonotonic()
    bot_api.clock = clock  # the server's flood window and accepted_at read the same clock the limiter waits on
    limiter = TelegramRateLimiter(30, clock=clock, sleep=clock.sleep)
    channel = limited_channel(bot_api, tmp_path, limiter)
    await channel.send(note(1))  # initialise the bot first, so only sends are timed
    bot_api.fail_next("sendMessage", 429, retry_after=1)
    with pytest.raises(TemporaryFailure) as flood:
        await channel.send(note(2))
    assert flood.value.retry_after == 1.0
    (refused_at,) = bot_api.too_many_at
    assert limiter.paused_until == refused_at + 1.0
    await asyncio.gather(*(channel.send(note(10 + n, n)) for n in range(5)))
    await channel.aclose()
    assert len(bot_api.accepted_at) == 6
    assert min(bot_api.accepted_at[1:]) >= refused_at + 1.0
    assert clock.slept, "the sends waited out the pause on the clock, not in real time"


async def test_the_worker_schedules_a_flood_refused_message_after_the_wait(
    readers_newsroom: Newsroom, bot_api: FakeBotAPI
) -> None:
    await fan_out(readers_newsroom, range(1, 2))
    bot_api.fail_next("sendMessage", 429, retry_after=3)
    before = datetime.now(UTC)
    await drain(readers_newsroom)
    async with readers_newsroom.engine.connect() as conn:
        row = (await conn.execute(select(deliveries))).one()
    assert row.status == "pending" and row.last_error == "telegram 429: retry after 3s"
    assert 3.0 <= (row.not_before - before).total_seconds() < 4.0


# --- retries ---------------------------------------------------------------------------------------------


async def test_server_errors_pause_the_channel_instead_of_spending_each_deliverys_attempts(
    readers_newsroom: Newsroom, bot_api: FakeBotAPI
) -> None:
    await fan_out(readers_newsroom, range(1, 6))
    bot_api.fail_next("sendMessage", 502, times=5)
    await drain(readers_newsroom)
    async with readers_newsroom.engine.connect() as conn:
        rows = list(await conn.execute(select(deliveries)))
        paused = await channel_health.outages(conn)
    assert {row.status for row in rows} == {"pending"} and {row.attempts for row in rows} == {0}
    assert set(paused) == {"telegram"} and "Bad Gateway" in (paused["telegram"].last_error or "")


# --- paid broadcast --------------------------------------------------------------------------------------


async def test_paid_broadcast_sends_above_the_free_limit_with_allow_paid_broadcast(
    settings: Settings, bot_api: FakeBotAPI
) -> None:
    bot_api.rate_limit(30)  # free sends are limited to 30/s; paid ones to 1000/s
    paid = settings.model_copy(
        update={"telegram_token": TOKEN, "telegram_api_url": bot_api.base_url, "telegram_paid_broadcast": True}
    )
    assert paid.telegram_messages_per_second == 1000
    async with await Newsroom.open(paid) as room:
        await fan_out(room, range(1, 81))
        await drain(room)
    assert bot_api.too_many_requests == 0 and len(bot_api.sent_messages) == 80
    assert {params.get("allow_paid_broadcast") for params in bot_api.calls_to("sendMessage")} == {True}


async def test_free_sends_do_not_ask_for_paid_broadcast(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    channel = limited_channel(bot_api, tmp_path, None)
    await channel.send(note(1))
    await channel.aclose()
    assert "allow_paid_broadcast" not in bot_api.calls_to("sendMessage")[0]


def test_a_rate_above_the_free_limit_needs_paid_broadcast(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSBOT_TELEGRAM_RATE", "100")
    with pytest.raises(ConfigurationError, match="NEWSBOT_TELEGRAM_PAID_BROADCAST"):
        load_settings()
    monkeypatch.setenv("NEWSBOT_TELEGRAM_PAID_BROADCAST", "1")
    assert load_settings().telegram_messages_per_second == 100


async def test_the_bot_is_an_extbot_so_the_limiter_applies(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    channel = limited_channel(bot_api, tmp_path, TelegramRateLimiter(30))
    assert isinstance(channel.bot, ExtBot) and isinstance(channel.bot.rate_limiter, TelegramRateLimiter)
