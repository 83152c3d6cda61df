"""Crash safety and clean stops of `newsbot deliver` in the middle of a fan-out: nobody is lost, and only a crash
sends anything twice.

The fake Bot API runs in this process, answers in 3 ms and counts what each chat received; `newsbot deliver` runs
as a real subprocess against it at the paid-broadcast rate (1000/s), and is killed or signalled once some but not
all messages have arrived. A second run finishes the job. After SIGKILL the readers who get the story twice are
those whose message was handed to Telegram but not yet recorded: at most `MAX_UNRECORDED` (64), the bound in the
README. After SIGTERM or SIGINT nobody gets it twice: the first run finishes and records what is in flight.
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

from bot.app.config import Settings
from bot.app.newsroom import Newsroom
from bot.outbox.worker import MAX_UNRECORDED
from bot.stories.intake import ingest_story, prepare_story
from bot.stories.parsing import read_story_file
from subscribers import readers as readers_store
from subscribers.schema import AddressStatus, Cadence, ChannelName, deliveries
from tests.fakes import FakeBotAPI
from tests.newsroom_fixtures import SAMPLE_STORY, use_embedded_defaults

FIRST_CHAT = 100_000
NEWSBOT = Path(sys.executable).with_name("newsbot")
SECRET = "test-secret-of-at-least-32-characters"
#: The Bot API's answer time in these runs.
ROUND_TRIP = 0.003


async def plan_fan_out(settings: Settings, readers: int) -> None:
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
    async with await Newsroom.open(settings) as newsroom:
        async with newsroom.engine.begin() as conn:
            await readers_store.add_subscribers(conn, rows, datetime.now(UTC))
        story = read_story_file(SAMPLE_STORY, settings.max_story_bytes)
        prepared = prepare_story(story, settings=settings, taxonomy=newsroom.taxonomy, tagger=newsroom.tagger)
        result = await ingest_story(newsroom, prepared)
    assert result.recipients["telegram"] == readers


async def statuses(settings: Settings) -> Counter[str]:
    async with await Newsroom.open(settings) as newsroom, newsroom.engine.connect() as conn:
        rows = await conn.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status))
        return Counter({status: count for status, count in rows})


async def wait_until(condition, process: asyncio.subprocess.Process, seconds: float) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.01)):
        if condition() or process.returncode is not None:
            return
        await asyncio.sleep(0.01)


async def read_until(process: asyncio.subprocess.Process, text: str) -> str:
    """The process's stderr up to the line holding *text*: proof it got that far, without guessing how long."""
    assert process.stderr is not None
    said = ""
    while text not in said:
        line = await process.stderr.readline()
        assert line, f"stderr ended before {text!r}: {said}"
        said += line.decode()
    return said


def deliver_env(tmp_path: Path, api: FakeBotAPI) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("NEWSBOT_")}
    return env | {
        "NEWSBOT_DATA_DIR": str(tmp_path / "data"),
        "NEWSBOT_SECRET_KEY": SECRET,
        "NEWSBOT_TELEGRAM_TOKEN": "123456:TEST",
        "NEWSBOT_TELEGRAM_API_URL": api.base_url,
        "NEWSBOT_TELEGRAM_PAID_BROADCAST": "1",
    }


async def start_deliver(tmp_path: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        NEWSBOT, "deliver", env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )


async def finish_the_job(tmp_path: Path, env: dict[str, str]) -> None:
    second = await start_deliver(tmp_path, env)
    _, err = await asyncio.wait_for(second.communicate(), timeout=120)
    assert second.returncode == 0, err.decode()


async def test_sigkill_mid_fan_out_then_restart_delivers_to_everyone_with_at_most_the_in_flight_limit_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readers = 800  # killed at 537: in the third batch of 200, with more batches left for the restart
    use_embedded_defaults(tmp_path, monkeypatch)
    async with FakeBotAPI() as api:
        api.delay("sendMessage", ROUND_TRIP)
        env = deliver_env(tmp_path, api)
        settings = Settings(data_dir=tmp_path / "data", secret_key=SECRET)
        await plan_fan_out(settings, readers)

        first = await start_deliver(tmp_path, env)
        # Kill it mid-fan-out, at a count that is no multiple of a batch (200) or of the in-flight limit.
        await wait_until(lambda: len(api.sent_messages) >= 537, first, seconds=60)
        first.send_signal(signal.SIGKILL)
        _, err = await first.communicate()
        assert first.returncode == -signal.SIGKILL, err.decode()
        assert 0 < len(api.sent_messages) < readers
        left = await statuses(settings)
        assert left["sending"] > 0  # what was claimed and not recorded

        await finish_the_job(tmp_path, env)

    per_chat = Counter(message.chat_id for message in api.sent_messages)
    assert set(per_chat) == set(range(FIRST_CHAT, FIRST_CHAT + readers))  # nobody missed out
    duplicates = sum(count - 1 for count in per_chat.values())
    assert duplicates <= MAX_UNRECORDED  # a whole batch (200) could be sent twice before
    assert await statuses(settings) == Counter({"sent": readers})
    assert api.too_many_requests == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_mid_fan_out_stops_cleanly_and_the_rerun_sends_nothing_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signum: signal.Signals
) -> None:
    readers = 600  # signalled at 300: the first run stops partway, the rerun sends the rest
    use_embedded_defaults(tmp_path, monkeypatch)
    async with FakeBotAPI() as api:
        api.delay("sendMessage", ROUND_TRIP)
        env = deliver_env(tmp_path, api)
        settings = Settings(data_dir=tmp_path / "data", secret_key=SECRET)
        await plan_fan_out(settings, readers)

        first = await start_deliver(tmp_path, env)
        await wait_until(lambda: len(api.sent_messages) >= 300, first, seconds=60)
        first.send_signal(signum)
        out, err = await asyncio.wait_for(first.communicate(), timeout=30)
        assert first.returncode == 0, err.decode()
        assert "finishing the sends in flight" in err.decode()
        assert "Stopped on request" in out.decode()
        received = len(api.sent_messages)
        assert 0 < received < readers
        left = await statuses(settings)
        assert left["sending"] == 0  # nothing left claimed by a clean exit
        assert left["sent"] == received  # everything that reached Telegram is recorded

        await finish_the_job(tmp_path, env)

    per_chat = Counter(message.chat_id for message in api.sent_messages)
    assert set(per_chat) == set(range(FIRST_CHAT, FIRST_CHAT + readers))
    assert sum(count - 1 for count in per_chat.values()) == 0
    assert await statuses(settings) == Counter({"sent": readers})


async def test_a_second_signal_exits_at_once_and_the_rerun_loses_nobody(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readers = 20
    use_embedded_defaults(tmp_path, monkeypatch)
    async with FakeBotAPI() as api:
        env = deliver_env(tmp_path, api)
        settings = Settings(data_dir=tmp_path / "data", secret_key=SECRET)
        await plan_fan_out(settings, readers)
        api.delay("sendMessage", 60)  # every send hangs: the first signal alone would wait out the grace period

        first = await start_deliver(tmp_path, env)
        await wait_until(lambda: len(api.calls_to("sendMessage")) >= 5, first, seconds=60)
        first.send_signal(signal.SIGTERM)
        said = await asyncio.wait_for(read_until(first, "finishing the sends in flight"), timeout=30)
        first.send_signal(signal.SIGTERM)  # the first one was taken: this one is the second
        _, err = await asyncio.wait_for(first.communicate(), timeout=30)
        # Only the second signal's exit gives this code: a run that waited out the grace would exit 0 (or 1).
        assert first.returncode == 128 + signal.SIGTERM, said + err.decode()
        assert "exiting now" in err.decode()

        api.delays.clear()
        await finish_the_job(tmp_path, env)
    assert {message.chat_id for message in api.sent_messages} == set(range(FIRST_CHAT, FIRST_CHAT + readers))
    assert await statuses(settings) == Counter({"sent": readers})
