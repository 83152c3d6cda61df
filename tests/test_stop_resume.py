"""Stop and resume: a stop reaches every worker within its refresh interval, in this process and in others; what
was sent is reported; resume sends the rest exactly once; a retracted story never resumes."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update

from bot.app.config import Settings
from bot.app.errors import StoryHalted
from bot.app.newsroom import Newsroom
from bot.channels import build_channels
from bot.channels.telegram import TelegramChannel
from bot.channels.telegram_rate_limit import TelegramRateLimiter
from bot.outbox.halted_stories import REFRESH_SECONDS
from bot.outbox.worker import DeliveryWorker
from bot.stories.intake import publish_story
from bot.stories.stopping import resume_story, stop_story
from bot.web import create_app
from subscribers import readers as readers_store
from subscribers.schema import AddressStatus, Cadence, ChannelName, deliveries, stories
from tests.editor_fixtures import API_TOKEN, sample_story
from tests.fakes import FakeBotAPI
from tests.fakes.clock import GatedSleep, ManualClock, ManualMonotonic
from tests.postgres_databases import POSTGRES_URL, SKIP_REASON
from tests.telegram_session import eventually

NEWSBOT = Path(sys.executable).with_name("newsbot")
FIRST_CHAT = 700_000
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


async def add_chats(newsroom: Newsroom, count: int) -> None:
    rows = [
        readers_store.NewSubscriber(
            addresses=(
                readers_store.NewAddress(
                    ChannelName.TELEGRAM, str(FIRST_CHAT + n), Cadence.INSTANT, AddressStatus.ACTIVE
                ),
            ),
            topics=("north-korea",),
        )
        for n in range(count)
    ]
    async with newsroom.engine.begin() as conn:
        await readers_store.add_subscribers(conn, rows, datetime.now(UTC))


async def statuses(newsroom: Newsroom) -> Counter[str]:
    async with newsroom.reader.connect() as conn:
        rows = await conn.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status))
        return Counter(dict(list(rows)))


async def wait_for(condition, seconds: float) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out waiting")


async def test_a_stop_mid_send_holds_the_rest_and_resume_sends_it_exactly_once(
    settings: Settings, bot_api: FakeBotAPI
) -> None:
    readers, rate = 30, 5.0
    live = settings.model_copy(
        update={"telegram_token": "123456:TEST", "telegram_api_url": bot_api.base_url, "telegram_rate": rate}
    )
    async with await Newsroom.open(live) as newsroom:
        await add_chats(newsroom, readers)
        story = sample_story(newsroom)
        await publish_story(newsroom, story, actor="cli")
        # The limiter's waits pass at once on a manual clock, except that once a few sends have gone out they are
        # held until the stop has landed and the worker's refresh interval has passed; then the held sends
        # (withdrawn), and later the resumed ones, go on.
        pace = ManualMonotonic()
        gate = GatedSleep(pace, hold_when=lambda: len(bot_api.sent_messages) >= 5)
        channels = build_channels(live, only=["email"])
        limiter = TelegramRateLimiter(rate, clock=pace, sleep=gate)
        channels["telegram"] = TelegramChannel.from_settings(live, rate_limiter=limiter)
        clock = ManualClock()
        try:
            worker = DeliveryWorker(newsroom, channels, clock=clock, batch_size=50)
            drain = asyncio.create_task(worker.drain(wait_for_retries=0))
            async with asyncio.timeout(30):
                await gate.held.wait()
            # No send passes the limiter now; those that did have been answered before the stop lands.
            await eventually(lambda: limiter.overall.in_flight == 0, what="the sends past the limiter answered")
            report = await stop_story(newsroom, story.id, actor="cli")
            at_stop = len(bot_api.sent_messages)
            clock.advance(seconds=REFRESH_SECONDS)  # the workers' refresh interval has passed
            gate.opened.set()
            drained = await drain
            assert len(bot_api.sent_messages) == at_stop  # every send still waiting was withdrawn
            sent = len(bot_api.sent_messages)
            assert report.changed and report.sent_of()["telegram"][0] <= sent  # recorded by then
            assert report.sent_of()["telegram"][1] == readers
            assert drained.halted["telegram"] + sum(report.deliveries.values()) == readers - sent
            assert await statuses(newsroom) == {"sent": sent, "stopped": readers - sent}

            again = await stop_story(newsroom, story.id, actor="cli")
            assert not again.changed and again.notes[0].startswith("already stopped")

            resumed = await resume_story(newsroom, story.id, actor="cli")
            assert resumed.changed and resumed.deliveries["telegram"] == readers - sent
            await worker.drain(wait_for_retries=0)
        finally:
            for channel in channels.values():
                await channel.aclose()
        per_chat = Counter(message.chat_id for message in bot_api.sent_messages)
        assert set(per_chat) == set(range(FIRST_CHAT, FIRST_CHAT + readers)) and set(per_chat.values()) == {1}
        assert await statuses(newsroom) == {"sent": readers}
        async with newsroom.reader.connect() as conn:
            assert (await conn.execute(select(stories.c.stopped_at))).scalar_one() is None


async def test_stop_and_resume_through_the_api_and_a_retracted_story_never_resumes(
    newsroom: Newsroom, tmp_path: Path
) -> None:
    await add_chats(newsroom, 3)
    story = sample_story(newsroom)
    await publish_story(newsroom, story, actor="cli")
    live = newsroom
    live.settings = newsroom.settings.model_copy(update={"api_token": API_TOKEN})
    transport = httpx.ASGITransport(app=create_app(live))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        stopped = await http.post(f"/api/stories/{story.id}/stop", headers=AUTH)
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["deliveries"] == {"telegram": 3, "email": 0}
        assert stopped.json()["sent_of"]["telegram"] == {"sent": 0, "of": 3}
        shown = (await http.get(f"/api/stories/{story.id}", headers=AUTH)).json()
        assert shown["stopped_at"] is not None and shown["deliveries"]["telegram"] == {"stopped": 3}
        assert (await http.post("/api/stories/nope/stop", headers=AUTH)).status_code == 404
        assert (await http.post(f"/api/stories/{story.id}/stop")).status_code == 401
        resumed = await http.post(f"/api/stories/{story.id}/resume", headers=AUTH)
        assert resumed.status_code == 200 and resumed.json()["deliveries"]["telegram"] == 3
        twice = (await http.post(f"/api/stories/{story.id}/resume", headers=AUTH)).json()
        assert not twice["changed"] and twice["notes"] == ["it was not stopped"]

        async with newsroom.engine.begin() as conn:
            await conn.execute(update(stories).values(retracted_at=datetime.now(UTC)))
        refused = await http.post(f"/api/stories/{story.id}/resume", headers=AUTH)
        assert refused.status_code == 409 and "cannot resume" in refused.json()["detail"]
    with pytest.raises(StoryHalted):
        await resume_story(newsroom, story.id, actor="cli")


@pytest.mark.skipif(not POSTGRES_URL, reason=SKIP_REASON)
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_stop_reaches_two_worker_processes_on_postgresql(settings: Settings, tmp_path: Path) -> None:
    readers, rate, workers = 200, 10.0, 2  # the two share 10 messages a second: 20 s for everyone
    async with await Newsroom.open(settings) as newsroom:
        await add_chats(newsroom, readers)
        story = sample_story(newsroom)
        await publish_story(newsroom, story, actor="cli")
    async with FakeBotAPI() as api:
        env = {name: value for name, value in os.environ.items() if not name.startswith("NEWSBOT_")}
        env |= {
            "NEWSBOT_DATABASE_URL": settings.database_url,
            "NEWSBOT_DATA_DIR": str(tmp_path / "data"),
            "NEWSBOT_SECRET_KEY": "test-secret-of-at-least-32-characters",
            "NEWSBOT_TELEGRAM_TOKEN": "123456:TEST",
            "NEWSBOT_TELEGRAM_API_URL": api.base_url,
            "NEWSBOT_TELEGRAM_RATE": str(rate),
            "NEWSBOT_DELIVERY_BATCH_SIZE": "50",
        }
        children = [
            await asyncio.create_subprocess_exec(
                NEWSBOT, "run", "--role", "worker", env=env, cwd=tmp_path,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]  # fmt: skip
        try:
            async with await Newsroom.open(settings) as newsroom:
                await wait_for(lambda: len(api.sent_messages) >= 20, seconds=60)
                report = await stop_story(newsroom, story.id, actor="cli")
                at_stop = len(api.sent_messages)
                assert at_stop < readers, "stopped too late to test anything"

                async def settled() -> bool:
                    counts = await statuses(newsroom)
                    return counts["sending"] == 0 and counts["pending"] == 0

                for _ in range(1500):  # until both workers have recorded what they held
                    if await settled():
                        break
                    await asyncio.sleep(0.02)
                after_stop = len(api.sent_messages) - at_stop
                # Each worker sends at most what its rate allows in one refresh interval, plus one in flight.
                assert after_stop <= workers * (math.ceil(rate / workers * REFRESH_SECONDS) + 1)
                sent = len(api.sent_messages)
                assert await statuses(newsroom) == {"sent": sent, "stopped": readers - sent}
                assert report.sent_of()["telegram"][1] == readers

                await resume_story(newsroom, story.id, actor="cli")
                await wait_for(lambda: len(api.sent_messages) >= readers, seconds=90)
        finally:
            for child in children:
                if child.returncode is None:
                    child.send_signal(signal.SIGTERM)
            for child in children:
                await asyncio.wait_for(child.wait(), timeout=30)
        assert [child.returncode for child in children] == [0] * workers

    per_chat = Counter(message.chat_id for message in api.sent_messages)
    assert set(per_chat) == set(range(FIRST_CHAT, FIRST_CHAT + readers)) and set(per_chat.values()) == {1}
    async with await Newsroom.open(settings) as newsroom:
        assert await statuses(newsroom) == {"sent": readers}
