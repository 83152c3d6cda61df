"""`newsbot status`: queue depth per channel and priority, send rate, failures by reason, dead addresses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.app.config import Settings
from bot.app.newsroom import Newsroom
from bot.channels import build_channels
from bot.cli import app
from bot.cli.delivery_commands import paused_queue
from bot.outbox.worker import DeliveryWorker
from bot.stories.intake import ingest_story, prepare_story
from bot.stories.parsing import parse_story
from bot.stories.story import Story
from subscribers import channel_health, deliveries, readers, status
from subscribers.schema import AddressStatus, Cadence, ChannelName
from tests.fakes import FakeBotAPI, SmtpSink
from tests.fakes.clock import ManualClock
from tests.newsroom_fixtures import SAMPLE_STORY, add_reader, paced_channels, use_embedded_defaults

INSTANT_EMAIL = {ChannelName.EMAIL: Cadence.INSTANT}


def story(newsroom: Newsroom, text: str) -> Story:
    return prepare_story(
        parse_story(text, max_bytes=newsroom.settings.max_story_bytes),
        settings=newsroom.settings,
        taxonomy=newsroom.taxonomy,
        tagger=newsroom.tagger,
    )


async def report_of(newsroom: Newsroom) -> status.DeliveryStatusReport:
    now = datetime.now(UTC)
    async with newsroom.engine.connect() as conn:
        return await status.delivery_status_report(
            conn, now, sent_since=now - timedelta(minutes=1), failures_since=now - timedelta(hours=24)
        )


@pytest.fixture
async def live(settings: Settings, bot_api: FakeBotAPI) -> AsyncIterator[tuple[Newsroom, DeliveryWorker]]:
    """Telegram through the fake Bot API, email into the file outbox."""
    room = await Newsroom.open(
        settings.model_copy(update={"telegram_token": "123456:TEST", "telegram_api_url": bot_api.base_url})
    )
    channels = paced_channels(room.settings)
    try:
        yield room, DeliveryWorker(room, channels)
    finally:
        for channel in channels.values():
            await channel.aclose()
        await room.close()


async def test_an_empty_store_reports_nothing_to_do(newsroom: Newsroom) -> None:
    report = await report_of(newsroom)
    assert report.queue == [] and report.failures == [] and report.other_failures == 0
    assert report.sent_last_minute == {"telegram": 0, "email": 0}
    assert (report.deactivated_chats, report.bounced_addresses) == (0, 0)


async def test_status_shows_the_queue_the_rate_the_failures_and_the_dead_addresses(
    live: tuple[Newsroom, DeliveryWorker], bot_api: FakeBotAPI
) -> None:
    newsroom, worker = live
    for chat in ("101", "102", "103"):
        await add_reader(newsroom, "north-korea", telegram_chat=chat)
    reader = await add_reader(
        newsroom, "north-korea", email="nk@example.org", cadences={ChannelName.EMAIL: Cadence.INSTANT}
    )
    bot_api.block(101)
    await ingest_story(newsroom, story(newsroom, "---\ntopics: [north-korea]\n---\nTalks resume in Geneva.\n"))
    await worker.drain()  # 102, 103 and the email sent; 101 blocked the bot

    await ingest_story(newsroom, story(newsroom, "---\ntopics: [north-korea]\nbreaking: true\n---\nA launch.\n"))
    bot_api.fail_next("sendMessage", 502)
    await worker.drain(wait_for_retries=0)  # one chat's breaking message got a 502: Telegram is paused
    await ingest_story(newsroom, story(newsroom, "---\ntopics: [north-korea]\n---\nThe talks end.\n"))
    async with newsroom.engine.begin() as conn:  # a worker is busy with one message of that story
        await deliveries.claim_due_deliveries(conn, 1, datetime.now(UTC))
        await readers.deactivate_address(
            conn, "email", reader, AddressStatus.BOUNCED, "smtp 550 5.1.1 user unknown", datetime.now(UTC)
        )

    report = await report_of(newsroom)
    by_key = {(d.channel, d.priority): (d.due, d.waiting, d.sending) for d in report.queue}
    assert by_key == {("telegram", 0): (0, 0, 1), ("telegram", 10): (2, 0, 0)}
    async with newsroom.engine.connect() as conn:
        outages = await channel_health.outages(conn, count_waiting=True)
    assert set(outages) == {"telegram"} and outages["telegram"].waiting == 3
    paused = paused_queue(report, outages)  # what `newsbot status` shows: nothing is due on a paused channel
    by_key = {(d.channel, d.priority): (d.due, d.waiting, d.sending) for d in paused.queue}
    assert by_key == {("telegram", 0): (0, 0, 1), ("telegram", 10): (0, 2, 0)}
    assert report.sent_last_minute == {"telegram": 3, "email": 2}
    assert report.failures == [("telegram 403: Forbidden: bot was blocked by the user", 1)]
    assert (report.deactivated_chats, report.bounced_addresses) == (1, 1)


async def test_only_the_most_frequent_reasons_are_listed_and_the_rest_are_summed(
    live: tuple[Newsroom, DeliveryWorker], bot_api: FakeBotAPI
) -> None:
    newsroom, worker = live
    for chat in range(201, 205):
        await add_reader(newsroom, "north-korea", telegram_chat=str(chat))
    bot_api.block(201)
    bot_api.block(202)
    bot_api.forget(203)
    await ingest_story(newsroom, story(newsroom, "---\ntopics: [north-korea]\n---\nTalks resume.\n"))
    await worker.drain()
    now = datetime.now(UTC)
    async with newsroom.engine.connect() as conn:
        report = await status.delivery_status_report(
            conn, now, sent_since=now - timedelta(minutes=1), failures_since=now - timedelta(hours=1), top_reasons=1
        )
    assert report.failures == [("telegram 403: Forbidden: bot was blocked by the user", 2)]
    assert report.other_failures == 1


def test_the_command_prints_a_summary_and_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_embedded_defaults(tmp_path, monkeypatch)
    runner = CliRunner()
    assert runner.invoke(app, ["subscribers", "add", "--telegram-chat", "101", "--topic", "north-korea"]).exit_code == 0
    assert runner.invoke(app, ["ingest", str(SAMPLE_STORY)]).exit_code == 0

    text = runner.invoke(app, ["status"])
    assert text.exit_code == 0, text.output
    assert "telegram  normal" in text.output and "Deactivated Telegram chats: 0" in text.output

    as_json = runner.invoke(app, ["status", "--json"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert data["queue"] == [
        {"channel": "telegram", "priority": "normal", "due": 1, "waiting_for_retry": 0, "sending": 0}
    ]
    assert data["sent_last_minute"] == {"telegram": 0, "email": 0}
    assert data["failures_last_24h"] == [] and data["deactivated_chats"] == 0 and data["bounced_addresses"] == 0

    assert runner.invoke(app, ["deliver"]).exit_code == 0
    after = json.loads(runner.invoke(app, ["status", "--json"]).output)
    assert after["queue"] == [] and after["sent_last_minute"]["telegram"] == 1


async def relay_outage(data_dir: Path, clock: ManualClock) -> None:
    """Two email readers, a story for them, and a relay that refuses connections: email is paused."""
    with SmtpSink() as sink:
        closed = sink.url
    settings = Settings(data_dir=data_dir, smtp_url=closed)
    async with await Newsroom.open(settings) as newsroom:
        for n in range(2):
            await add_reader(newsroom, "north-korea", email=f"desk{n}@fairview-gazette.example", cadences=INSTANT_EMAIL)
        await ingest_story(newsroom, story(newsroom, "---\ntopics: [north-korea]\n---\nTalks resume in Geneva.\n"))
        channels = build_channels(settings)
        try:
            report = await DeliveryWorker(newsroom, channels, clock=clock).drain()
        finally:
            for channel in channels.values():
                await channel.aclose()
    assert report.failed == {} and set(report.outages) == {"email"}


def test_status_shows_an_unreachable_channel_since_when_and_how_many_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_embedded_defaults(tmp_path, monkeypatch)
    started = datetime.now(UTC)
    asyncio.run(relay_outage(tmp_path / "data", ManualClock()))
    runner = CliRunner()

    text = runner.invoke(app, ["status"])
    assert text.exit_code == 0, text.output
    assert "Unreachable channels (paused" in text.output
    (line,) = [line for line in text.output.splitlines() if "unreachable since" in line]
    assert line.strip().startswith(f"email unreachable since {started:%Y-%m-%d}")
    assert "Errno 111" in line and "2 deliveries wait for it, next try at" in line
    assert "Failures in the last 24 hours: none." in text.output
    assert "email     normal           0 / 2 / 0" in text.output  # waiting for the relay, not "due now"

    data = json.loads(runner.invoke(app, ["status", "--json"]).output)
    (outage,) = data["unreachable_channels"]
    assert outage["channel"] == "email" and outage["waiting"] == 2
    assert datetime.fromisoformat(outage["since"]) >= started.replace(microsecond=0)
    assert datetime.fromisoformat(outage["next_try_at"]) > datetime.fromisoformat(outage["since"])
    assert data["queue"] == [{"channel": "email", "priority": "normal", "due": 0, "waiting_for_retry": 2, "sending": 0}]
    assert data["failures_last_24h"] == []
