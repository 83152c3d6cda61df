"""Several delivery workers share one outbox: claims never overlap, dead workers' claims come back, the
Telegram rate is split between the live ones."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app.config import Settings
from bot.app.newsroom import Newsroom
from bot.channels import TelegramOutbox, build_channels
from bot.channels.telegram_rate_limit import TelegramRateLimiter
from bot.outbox.worker import DeliveryWorker
from bot.stories.intake import ingest_story, prepare_story
from bot.stories.parsing import read_story_file
from subscribers import deliveries as deliveries_store
from subscribers import readers as readers_store
from subscribers import workers as workers_store
from subscribers.schema import AddressStatus, Cadence, ChannelName, deliveries, workers
from tests.fakes import FakeBotAPI
from tests.newsroom_fixtures import SAMPLE_STORY
from tests.postgres_databases import POSTGRES_URL, SKIP_REASON

NEWSBOT = Path(sys.executable).with_name("newsbot")
FIRST_CHAT = 500_000


async def plan_fan_out(newsroom: Newsroom, readers: int) -> None:
    rows = [
        readers_store.NewSubscriber(
            addresses=(
                readers_store.NewAddress(
                    ChannelName.TELEGRAM, str(FIRST_CHAT + n), Cadence.INSTANT, AddressStatus.ACTIVE
                ),
            ),
            topics=("north-korea",),
        )
        for n in range(readers)
    ]
    async with newsroom.engine.begin() as conn:
        await readers_store.add_subscribers(conn, rows, datetime.now(UTC))
    settings = newsroom.settings
    story = prepare_story(
        read_story_file(SAMPLE_STORY, settings.max_story_bytes),
        settings=settings,
        taxonomy=newsroom.taxonomy,
        tagger=newsroom.tagger,
    )
    assert (await ingest_story(newsroom, story)).recipients["telegram"] == readers


class LimitedOutbox(TelegramOutbox):
    """A file outbox with a rate limiter attached, as a live Telegram channel has."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.rate_limiter = TelegramRateLimiter(30)


async def test_live_workers_split_the_telegram_rate_and_leave_the_registry_when_done(
    newsroom: Newsroom, tmp_path: Path
) -> None:
    first = DeliveryWorker(newsroom, {"telegram": LimitedOutbox(tmp_path / "a")})
    second = DeliveryWorker(newsroom, {"telegram": LimitedOutbox(tmp_path / "b")})
    async with first.on_duty(), second.on_duty():
        await first.heartbeat()
        assert first.live_workers == 2
        limiter = first.channels["telegram"].rate_limiter  # type: ignore[attr-defined]
        assert limiter.overall.limit / limiter.overall.period == pytest.approx(15)
    async with newsroom.reader.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(workers))).scalar_one() == 0


async def test_claims_of_a_silent_worker_return_to_the_queue_and_a_live_ones_stay(
    newsroom: Newsroom, tmp_path: Path
) -> None:
    await plan_fan_out(newsroom, 6)
    now = datetime.now(UTC)
    async with newsroom.engine.begin() as conn:
        await workers_store.register_worker(conn, "elsewhere-dead", "another-host", 1, now - timedelta(minutes=10))
        await workers_store.register_worker(conn, "elsewhere-alive", "another-host", 1, now)
        assert len(await deliveries_store.claim_due_deliveries(conn, 2, now, "elsewhere-dead")) == 2
        assert len(await deliveries_store.claim_due_deliveries(conn, 2, now, "elsewhere-alive")) == 2
    worker = DeliveryWorker(newsroom, {"telegram": TelegramOutbox(tmp_path / "out")})
    report = await worker.drain()
    assert report.sent == {"telegram": 4}  # the 2 unclaimed and the 2 of the dead worker
    async with newsroom.reader.connect() as conn:
        sending = await conn.execute(select(deliveries.c.claimed_by).where(deliveries.c.status == "sending"))
        assert [row.claimed_by for row in sending] == ["elsewhere-alive", "elsewhere-alive"]
        assert {row.id for row in await conn.execute(select(workers.c.id))} == {"elsewhere-alive"}


async def test_concurrent_workers_in_one_process_never_send_a_delivery_twice(
    newsroom: Newsroom, tmp_path: Path
) -> None:
    await plan_fan_out(newsroom, 300)
    outboxes = [TelegramOutbox(tmp_path / f"w{n}") for n in range(3)]
    reports = await asyncio.gather(
        *(DeliveryWorker(newsroom, {"telegram": box}, batch_size=25).drain() for box in outboxes)
    )
    assert sum(r.sent["telegram"] for r in reports) == 300
    files = [p.name for box in outboxes for p in box.directory.glob("*.html")]
    assert len(files) == len(set(files)) == 300


async def wait_for(condition, seconds: float) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)


@pytest.mark.skipif(not POSTGRES_URL, reason=SKIP_REASON)
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_three_worker_processes_on_postgresql_survive_one_being_killed(
    settings: Settings, tmp_path: Path
) -> None:
    readers, batch = 5000, 100
    async with await Newsroom.open(settings) as newsroom:
        await plan_fan_out(newsroom, readers)
    async with FakeBotAPI() as api:
        env = {name: value for name, value in os.environ.items() if not name.startswith("NEWSBOT_")}
        env |= {
            "NEWSBOT_DATABASE_URL": settings.database_url,
            "NEWSBOT_DATA_DIR": str(tmp_path / "data"),
            "NEWSBOT_SECRET_KEY": "test-secret-of-at-least-32-characters",
            "NEWSBOT_TELEGRAM_TOKEN": "123456:TEST",
            "NEWSBOT_TELEGRAM_API_URL": api.base_url,
            "NEWSBOT_TELEGRAM_PAID_BROADCAST": "1",
            "NEWSBOT_DELIVERY_BATCH_SIZE": str(batch),
            "NEWSBOT_DELIVERY_LEASE_SECONDS": "8",
        }
        children = [
            await asyncio.create_subprocess_exec(
                NEWSBOT, "run", "--role", "worker", env=env, cwd=tmp_path,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )
            for _ in range(3)
        ]  # fmt: skip
        try:
            await wait_for(lambda: len(api.sent_messages) >= readers // 3, seconds=60)
            victim = children[0]
            victim.send_signal(signal.SIGKILL)
            await victim.wait()
            assert len(api.sent_messages) < readers, "killed too late to test anything"
            await wait_for(lambda: len({m.chat_id for m in api.sent_messages}) >= readers, seconds=90)
        finally:
            for child in children[1:]:
                if child.returncode is None:
                    child.send_signal(signal.SIGTERM)
            for child in children[1:]:
                await asyncio.wait_for(child.wait(), timeout=30)
        assert [child.returncode for child in children[1:]] == [0, 0]

    per_chat = Counter(message.chat_id for message in api.sent_messages)
    assert set(per_chat) == set(range(FIRST_CHAT, FIRST_CHAT + readers))
    assert sum(count - 1 for count in per_chat.values()) <= batch  # at most the dead worker's batch
    async with await Newsroom.open(settings) as newsroom, newsroom.reader.connect() as conn:
        rows = await conn.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status))
        statuses = dict(list(rows))
    assert statuses == {"sent": readers}
    assert api.too_many_requests == 0



async def test_workers_sending_together_stay_within_telegrams_overall_limit(
    settings: Settings, bot_api: FakeBotAPI
) -> None:
    readers = 75  # 2.5 s at the shared 30/s: the two workers overlap across several of the fake's windows
    bot_api.rate_limit(per_second=30)  # the fake answers 429 to anything above 30 accepted sends a second
    live = settings.model_copy(update={"telegram_token": "123456:TEST", "telegram_api_url": bot_api.base_url})
    async with await Newsroom.open(live) as newsroom:
        await plan_fan_out(newsroom, readers)
        channel_sets = [build_channels(live) for _ in range(2)]
        try:
            first = asyncio.create_task(DeliveryWorker(newsroom, channel_sets[0], batch_size=20).drain())
            await wait_for(lambda: len(bot_api.sent_messages) >= 20, seconds=10)  # the second joins mid-flight
            second = await DeliveryWorker(newsroom, channel_sets[1], batch_size=20).drain()
            reports = [await first, second]
        finally:
            for channels in channel_sets:
                for channel in channels.values():
                    await channel.aclose()
    assert sum(report.sent["telegram"] for report in reports) == readers
    assert bot_api.too_many_requests == 0
