"""`newsbot run`: one process, one loop, serving the bot, the web side and the worker; stopping loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.app.config import Settings
from bot.app.errors import ConfigurationError
from bot.app.newsroom import Newsroom
from bot.app.process import DIGEST_JOB
from bot.outbox.worker import MAX_UNRECORDED
from subscribers.schema import Cadence, ChannelName, deliveries
from tests.email_readers import store_story_at
from tests.fakes import FakeBotAPI
from tests.newsroom_fixtures import add_reader
from tests.telegram_session import (
    TOKEN,
    ChatSession,
    eventually,
    ingest_sample,
    live_settings,
    running_service,
)

READER = 5001


async def test_a_reader_session_from_start_to_stop(settings: Settings, bot_api: FakeBotAPI) -> None:
    async with running_service(live_settings(settings, bot_api)) as service:
        chat = ChatSession(bot_api, service)

        picker = await chat.say(READER, "/start")
        await chat.press(READER, picker["message_id"], "tp:0:north-korea")
        await chat.press(READER, picker["message_id"], "pg:1")
        await chat.press(READER, picker["message_id"], "tp:1:local")
        await chat.press(READER, picker["message_id"], "done")
        assert "You follow Local and North Korea" in chat.api.messages[(READER, picker["message_id"])]["text"]

        story = await ingest_sample(chat)
        assert story.recipients["telegram"] == 1
        await eventually(lambda: len(bot_api.sent_to(READER)) == 2, what="the sample story in the chat")
        delivered = chat.latest(READER)["text"]
        assert story.story.title in delivered and "#North_Korea" in delivered

        settings_message = await chat.say(READER, "/settings")
        await chat.press(READER, settings_message["message_id"], "cad:telegram:weekly")
        weekly = await ingest_sample(chat, "---\ntopics: [local]\n---\nThe council approved the new park.\n")
        assert weekly.recipients["telegram"] == 0, "a weekly reader waits for the digest"

        question = await chat.say(READER, "/stop")
        await chat.press(READER, question["message_id"], "stop:yes")
        assert await chat.reader(READER) is None
        after = await ingest_sample(chat, "---\ntopics: [north-korea]\n---\nPyongyang fired a missile.\n")
        assert after.recipients["telegram"] == 0
        assert sum(story.story.title in text for text in bot_api.sent_to(READER)) == 1


async def test_stopping_finishes_the_sends_in_flight_and_never_sends_twice(
    settings: Settings, bot_api: FakeBotAPI
) -> None:
    # At the paid rate the sends are held back only by the in-flight limit (MAX_UNRECORDED), not by 30 a second.
    live = live_settings(settings, bot_api, delivery_batch_size=2, telegram_paid_broadcast=True)
    # More readers than the worker ever has in flight (MAX_UNRECORDED), so a stop always leaves some waiting.
    chats = [READER + n for n in range(MAX_UNRECORDED + 6)]
    answers = bot_api.hold("sendMessage")  # the sends stay in flight until the service has been told to stop
    async with running_service(live) as service:
        chat = ChatSession(bot_api, service)
        for chat_id in chats:
            await add_reader(chat.newsroom, "north-korea", telegram_chat=str(chat_id))
        await ingest_sample(chat)
        await eventually(lambda: bot_api.calls_to("sendMessage"), what="a send in flight")
        # Leaving the block sets the service's stop before it first awaits; this runs in the loop's next turn.
        asyncio.get_running_loop().call_soon(answers.set)
    # stopped with sends in flight: those finished and were recorded, the rest waits
    first_run = len(bot_api.sent_messages)
    assert 0 < first_run < len(chats)
    async with await Newsroom.open(live) as newsroom, newsroom.engine.connect() as conn:
        statuses = [row.status for row in await conn.execute(select(deliveries))]
    assert sorted(statuses) == ["pending"] * (len(chats) - first_run) + ["sent"] * first_run

    async with running_service(live):
        await eventually(lambda: len(bot_api.sent_messages) == len(chats), what="the rest of the deliveries")
    assert sorted(sent.chat_id for sent in bot_api.sent_messages) == chats


async def test_start_up_says_which_channels_are_live_and_where_the_web_side_is(
    settings: Settings, bot_api: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="newsbot"):
        async with running_service(live_settings(settings, bot_api)) as service, httpx.AsyncClient() as client:
            health = await client.get(f"{service.web_url}/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    lines = [record.getMessage() for record in caplog.records if record.name == "newsbot"]
    assert f"channel telegram: Bot API at {bot_api.base_url} (live)" in lines
    assert any(line.startswith("channel email: file outbox") and "nothing is sent" in line for line in lines)
    assert "telegram bot @newsbot_test_bot: long polling for updates" in lines
    assert f"web side on {service.web_url} (GET /healthz)" in lines
    assert service.web_url.startswith("http://127.0.0.1:")
    assert lines[-1] == "stopped"
    assert not any(TOKEN in line for line in lines)


async def test_without_a_token_it_says_so_once_and_runs_the_web_side_and_the_worker(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="newsbot"):
        async with running_service(settings.model_copy(update={"web_port": 0})) as service:
            chat = ChatSession(FakeBotAPI(), service)
            await add_reader(chat.newsroom, "north-korea", telegram_chat=str(READER))
            await ingest_sample(chat)
            outbox = settings.outbox_dir / "telegram"
            await eventually(lambda: outbox.is_dir() and list(outbox.glob("*.html")), what="the chat message on file")
            async with httpx.AsyncClient() as client:
                assert (await client.get(f"{service.web_url}/healthz")).status_code == 200
    missing = [record.getMessage() for record in caplog.records if "NEWSBOT_TELEGRAM_TOKEN" in record.getMessage()]
    assert len(missing) == 1 and "no Telegram bot" in missing[0]


async def test_start_up_says_where_the_signing_secret_comes_from_and_never_shows_it(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    for key, source in ((settings.secret_key, "NEWSBOT_SECRET_KEY"), ("", "kept in the store")):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="newsbot"):
            async with running_service(settings.model_copy(update={"web_port": 0, "secret_key": key})) as service:
                assert service.newsroom is not None
                secret = service.newsroom.secret.value
        lines = [record.getMessage() for record in caplog.records if record.name == "newsbot"]
        (said,) = [line for line in lines if "links are signed with" in line]
        assert source in said
        assert not any(secret in line for line in lines)


async def test_a_taken_port_stops_start_up_with_a_message_naming_the_setting(settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = settings.model_copy(update={"web_port": taken.getsockname()[1]})
        with pytest.raises(ConfigurationError, match="NEWSBOT_WEB_PORT"):
            async with running_service(busy):
                pass


async def test_a_token_the_bot_api_refuses_stops_start_up(settings: Settings) -> None:
    async with FakeBotAPI(token="999:RIGHT") as api:
        with pytest.raises(ConfigurationError, match="NEWSBOT_TELEGRAM_TOKEN"):
            async with running_service(live_settings(settings, api)):
                pass


# --- the real command, in a child process ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def child_environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("NEWSBOT_")}
    env.update(
        {
            "NEWSBOT_DATA_DIR": str(tmp_path / "data"),
            "NEWSBOT_SECRET_KEY": "test-secret-of-at-least-32-characters",
            **settings,
        }
    )
    return env


async def read_until(stream: asyncio.StreamReader, marker: str, seen: list[str]) -> None:
    while True:
        line = (await asyncio.wait_for(stream.readline(), 30)).decode()
        if not line:
            raise AssertionError("newsbot run ended early:\n" + "".join(seen))
        seen.append(line)
        if marker in line:
            return


@contextlib.asynccontextmanager
async def newsbot_run(tmp_path: Path, env: dict[str, str]):
    """The installed ``newsbot run`` in a child process, its log readable from ``child.stderr``."""
    command = Path(sys.executable).with_name("newsbot")
    child = await asyncio.create_subprocess_exec(
        str(command), "run", cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        yield child
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()


async def test_newsbot_run_serves_health_checks_and_stops_cleanly_on_sigterm(
    tmp_path: Path, bot_api: FakeBotAPI
) -> None:
    port = free_port()
    env = child_environment(
        tmp_path, NEWSBOT_WEB_PORT=str(port), NEWSBOT_TELEGRAM_TOKEN=TOKEN, NEWSBOT_TELEGRAM_API_URL=bot_api.base_url
    )
    log: list[str] = []
    async with newsbot_run(tmp_path, env) as child:
        assert child.stderr is not None
        await read_until(child.stderr, "running:", log)
        async with httpx.AsyncClient() as client:
            health = await client.get(f"http://127.0.0.1:{port}/healthz")
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        assert bot_api.commands, "the command menu was registered"
        bot_api.push_message(READER, "/start north-korea")
        await eventually(lambda: bot_api.sent_to(READER), what="the child's bot to answer")

        child.send_signal(signal.SIGTERM)
        await read_until(child.stderr, "stopped", log)
        assert await asyncio.wait_for(child.wait(), 30) == 0
    text = "".join(log)
    assert f"web side on http://127.0.0.1:{port}" in text and "SIGTERM received" in text
    assert TOKEN not in text
    assert "Traceback" not in text


async def test_newsbot_run_without_a_token_still_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    log: list[str] = []
    async with newsbot_run(tmp_path, child_environment(tmp_path, NEWSBOT_WEB_PORT=str(port))) as child:
        assert child.stderr is not None
        await read_until(child.stderr, "running:", log)
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
        child.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(child.wait(), 30) == 0
    assert "NEWSBOT_TELEGRAM_TOKEN is not set" in "".join(log)


async def test_the_weekly_digest_is_scheduled_and_the_worker_sends_it(settings: Settings, bot_api: FakeBotAPI) -> None:
    # Today at 00:00: last week's digest is due at once (readers get it at the configured local day and hour).
    today = dt.datetime.now(dt.UTC).strftime("%A")
    live = live_settings(settings, bot_api, digest_weekday=today.lower(), digest_time=dt.time(0, 0))
    async with await Newsroom.open(live) as newsroom:  # a weekly reader, and a story of last week
        await add_reader(
            newsroom, "north-korea", telegram_chat=str(READER), cadences={ChannelName.TELEGRAM: Cadence.WEEKLY}
        )
        last_week = dt.datetime.now(dt.UTC) - dt.timedelta(days=7)
        story = await store_story_at(newsroom, last_week, "last-week", "Talks resume at the border", "north-korea")
    async with running_service(live) as service:
        chat = ChatSession(bot_api, service)
        assert service.application is not None and service.application.job_queue is not None
        (job,) = service.application.job_queue.get_jobs_by_name(DIGEST_JOB)
        assert job.next_t is not None, "planning repeats every tick"
        # Planned at start-up: the worker sends it.
        await eventually(lambda: bot_api.sent_to(READER), what="the digest in the chat")
        assert story.title in chat.latest(READER)["text"]
