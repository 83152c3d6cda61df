"""Crash safety: `newsbot deliver` killed with SIGKILL in the middle of a 10,000-reader fan-out loses nothing.

The fake Bot API runs in this process and counts what each chat received; `newsbot deliver` runs as a real
subprocess against it (paid broadcast, so the fan-out takes seconds) and is killed once some but not all
messages have arrived. A second run finishes the job. Every reader gets the story; the ones who get it twice are
those whose message was handed to Telegram but not yet recorded when the process died: at most one batch
(`NEWSBOT_DELIVERY_BATCH_SIZE`), the bound documented in the README.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.config import Settings
from bot.ingest import ingest_story, prepare_story
from bot.newsroom import Newsroom
from bot.story_input import read_story_file
from subscribers import queries
from subscribers.schema import AddressStatus, Cadence, ChannelName, deliveries
from tests.fakes import FakeBotAPI
from tests.newsroom_fixtures import SAMPLE_STORY, use_embedded_defaults

READERS = 10_000
BATCH = 200
FIRST_CHAT = 100_000
NEWSBOT = Path(sys.executable).with_name("newsbot")


async def plan_fan_out(settings: Settings) -> None:
    rows = [
        queries.NewSubscriber(
            addresses=(
                queries.NewAddress(ChannelName.TELEGRAM, str(FIRST_CHAT + n), Cadence.INSTANT, AddressStatus.ACTIVE),
            ),
            topics=("north-korea",),
        )
        for n in range(READERS)
    ]
    async with await Newsroom.open(settings) as newsroom:
        async with newsroom.engine.begin() as conn:
            await queries.add_subscribers(conn, rows, datetime.now(UTC))
        story = read_story_file(SAMPLE_STORY, settings.max_story_bytes)
        prepared = prepare_story(story, settings=settings, taxonomy=newsroom.taxonomy, tagger=newsroom.tagger)
        result = await ingest_story(newsroom, prepared)
    assert result.recipients["telegram"] == READERS


async def statuses(settings: Settings) -> Counter[str]:
    async with await Newsroom.open(settings) as newsroom, newsroom.engine.connect() as conn:
        rows = await conn.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status))
        return Counter({status: count for status, count in rows})


async def wait_until(condition, process: asyncio.subprocess.Process, seconds: float) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.01)):
        if condition() or process.returncode is not None:
            return
        await asyncio.sleep(0.01)


async def test_sigkill_mid_fan_out_then_restart_delivers_to_everyone_with_bounded_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_embedded_defaults(tmp_path, monkeypatch)
    async with FakeBotAPI() as api:
        env = {name: value for name, value in os.environ.items() if not name.startswith("NEWSBOT_")}
        env |= {
            "NEWSBOT_DATA_DIR": str(tmp_path / "data"),
            "NEWSBOT_SECRET_KEY": "test-secret-of-at-least-32-characters",
            "NEWSBOT_TELEGRAM_TOKEN": "123456:TEST",
            "NEWSBOT_TELEGRAM_API_URL": api.base_url,
            "NEWSBOT_TELEGRAM_PAID_BROADCAST": "1",
            "NEWSBOT_DELIVERY_BATCH_SIZE": str(BATCH),
        }
        settings = Settings(data_dir=tmp_path / "data", secret_key="test-secret-of-at-least-32-characters")
        await plan_fan_out(settings)

        first = await asyncio.create_subprocess_exec(
            NEWSBOT, "deliver", env=env, cwd=tmp_path,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        # Kill it mid-batch: a few batches in, at a count that is not a multiple of the batch size.
        await wait_until(lambda: len(api.sent_messages) >= 7 * BATCH + BATCH // 2, first, seconds=60)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        assert first.returncode == -signal.SIGKILL, (await first.stderr.read()).decode()  # type: ignore[union-attr]
        received_before_restart = len(api.sent_messages)
        assert 0 < received_before_restart < READERS
        left = await statuses(settings)
        assert left["sending"] > 0  # the batch in flight was claimed, and not recorded

        second = await asyncio.create_subprocess_exec(
            NEWSBOT, "deliver", env=env, cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(second.communicate(), timeout=120)
        assert second.returncode == 0, err.decode()

    per_chat = Counter(message.chat_id for message in api.sent_messages)
    assert set(per_chat) == set(range(FIRST_CHAT, FIRST_CHAT + READERS))  # nobody missed out
    duplicates = sum(count - 1 for count in per_chat.values())
    assert duplicates <= BATCH
    assert await statuses(settings) == Counter({"sent": READERS})
    assert api.too_many_requests == 0
