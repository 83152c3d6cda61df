"""`newsbot deliver` and `newsbot retry` as an operator runs them: what they say, and what they leave in the store
(SQLite, and PostgreSQL when configured), with the file outboxes as channels."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner, Result

from bot.app.config import load_settings
from bot.app.newsroom import Newsroom
from bot.cli import app
from subscribers.schema import addresses, deliveries
from tests.newsroom_fixtures import SAMPLE_STORY, seed_migrated_store, use_embedded_defaults

CHATS = ("101", "102", "103")


def newsbot(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("newsbot: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str, migrated_sqlite: Path) -> Path:
    """Three chats following the sample story's topic, the story ingested, nothing delivered yet."""
    use_embedded_defaults(tmp_path, monkeypatch)
    if database_url.startswith("postgresql"):
        monkeypatch.setenv("NEWSBOT_DATABASE_URL", database_url)
    else:
        seed_migrated_store(tmp_path / "data", migrated_sqlite)
    for chat in CHATS:
        assert newsbot("subscribers", "add", "--telegram-chat", chat, "--topic", "north-korea").exit_code == 0
    assert newsbot("ingest", str(SAMPLE_STORY)).exit_code == 0
    return tmp_path


async def _rows() -> dict[str, dict[str, object]]:
    async with await Newsroom.open(load_settings()) as room, room.engine.connect() as conn:
        result = await conn.execute(
            select(addresses.c.address, deliveries).join(
                addresses,
                (addresses.c.subscriber_id == deliveries.c.subscriber_id)
                & (addresses.c.channel == deliveries.c.channel),
            )
        )
        return {row.address: dict(row._mapping) for row in result}


async def _set(chat: str, **values: object) -> None:
    async with await Newsroom.open(load_settings()) as room, room.engine.begin() as conn:
        subscriber = select(addresses.c.subscriber_id).where(addresses.c.address == chat).scalar_subquery()
        await conn.execute(update(deliveries).where(deliveries.c.subscriber_id == subscriber).values(**values))


def rows() -> dict[str, dict[str, object]]:
    return asyncio.run(_rows())


def set_delivery(chat: str, **values: object) -> None:
    asyncio.run(_set(chat, **values))


def outbox_chats(workdir: Path) -> list[str]:
    files = (workdir / "data" / "outbox" / "telegram").glob("*.html")
    return sorted(path.read_text(encoding="utf-8").split(" -->", 1)[0].removeprefix("<!-- to: ") for path in files)


def test_retry_makes_failed_and_waiting_deliveries_due_and_never_resends_a_sent_one(workdir: Path) -> None:
    assert newsbot("deliver").exit_code == 0
    sent_at = rows()["103"]["sent_at"]
    later = datetime.now(UTC) + timedelta(hours=1)
    set_delivery("101", status="failed", attempts=5, last_error="gave up after 5 attempts: timeout")
    set_delivery("102", status="pending", attempts=2, not_before=later, last_error="smtp 451")
    for path in (workdir / "data" / "outbox" / "telegram").glob("*.html"):
        path.unlink()

    result = newsbot("retry")
    assert result.exit_code == 0, result.stderr
    assert "2 deliveries are due now (telegram 2)." in result.stdout
    now = rows()
    assert {chat: (now[chat]["status"], now[chat]["attempts"]) for chat in CHATS} == {
        "101": ("pending", 0), "102": ("pending", 0), "103": ("sent", 1),
    }  # fmt: skip
    assert now["102"]["not_before"] < later and now["103"]["sent_at"] == sent_at

    delivered = newsbot("deliver")
    assert delivered.exit_code == 0 and "sent: telegram 2" in delivered.stdout
    assert outbox_chats(workdir) == ["101", "102"]  # 103 got it once, before


def test_retry_narrows_to_a_story_and_a_channel(workdir: Path) -> None:
    story_id = rows()["101"]["story_id"]
    set_delivery("101", status="failed", attempts=5, last_error="telegram 401")
    email = newsbot("retry", "--channel", "email")
    assert email.exit_code == 0 and "Nothing to retry on email: no failed or waiting deliveries." in email.stdout
    assert rows()["101"]["status"] == "failed"
    narrowed = newsbot("retry", "--story", str(story_id), "--channel", "telegram")
    assert narrowed.exit_code == 0, narrowed.stderr
    assert f"1 delivery of story {story_id} on telegram is due now (telegram 1)." in narrowed.stdout
    assert rows()["101"]["status"] == "pending"


def test_retry_refuses_an_unknown_story_or_channel_in_one_line(workdir: Path) -> None:
    assert_one_line_error(newsbot("retry", "--story", "no-such-story"), "no story with id 'no-such-story'")
    assert_one_line_error(newsbot("retry", "--channel", "sms"), "unknown channel 'sms'", "telegram or email")


def test_deliver_says_how_many_deliveries_wait_and_when_the_first_is_due(workdir: Path) -> None:
    due = datetime.now(UTC) + timedelta(hours=2)
    set_delivery("102", not_before=due)
    result = newsbot("deliver")
    assert result.exit_code == 0, result.stderr
    assert "sent: telegram 2" in result.stdout
    # Within two hours of midnight the due time is on the next day, and the line names that day too.
    waits = rf"1 delivery waits; the first is due at (?:{due:%Y-%m-%d} )?{due:%H:%M:%S} UTC \(in 2\.0 h\)"
    assert re.search(waits, result.stdout), result.stdout
    assert outbox_chats(workdir) == ["101", "103"]
