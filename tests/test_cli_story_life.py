"""A story's life through the ``newsbot`` command line, as an editor at a shell lives it: ingest and deliver the
sample story to a Telegram and an email reader, then correct, retract, stop, resume and schedule it, and read
`newsbot status`. The commands run in this process against a real SQLite file (and PostgreSQL when configured),
`newsbot deliver` sends to the fake Bot API and the SMTP sink, and every bad input is one line and no change."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes
from email.policy import default as email_policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner, Result

from bot.app.config import load_settings
from bot.app.newsroom import Newsroom
from bot.cli import app
from subscribers.schema import audit_log, deliveries, stories, story_versions
from tests.fakes import FakeBotAPI, SmtpSink
from tests.newsroom_fixtures import SAMPLE_STORY, seed_migrated_store, use_embedded_defaults

CHAT = 4242
EMAIL = "reader@example.org"
NOTE = "Trump spoke of possible, not potential, engagement."
ORIGINAL_WORDING = "hinted at potential future engagement"
CORRECTED_WORDING = "hinted at possible future engagement"


def newsbot(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def assert_refused(result: Result, *fragments: str) -> None:
    """Exactly one line on stderr naming the problem, a non-zero exit, no traceback."""
    assert result.exit_code != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("newsbot: error: "), result.stderr
    assert ("Traceback" not in result.output and result.exception is None) or isinstance(result.exception, SystemExit)
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


async def _store_snapshot() -> dict[str, list[tuple[Any, ...]]]:
    async with await Newsroom.open(load_settings()) as room, room.engine.connect() as conn:
        tables = {"stories": stories, "deliveries": deliveries, "story_versions": story_versions, "audit": audit_log}
        return {
            name: [tuple(row) for row in await conn.execute(select(table).order_by(*table.primary_key.columns))]
            for name, table in tables.items()
        }


async def _execute(statement: Any) -> None:
    async with await Newsroom.open(load_settings()) as room, room.engine.begin() as conn:
        await conn.execute(statement)


async def _rows(story_id: str) -> list[Any]:
    async with await Newsroom.open(load_settings()) as room, room.engine.connect() as conn:
        query = select(deliveries).where(deliveries.c.story_id == story_id).order_by(deliveries.c.id)
        return list(await conn.execute(query))


def store_snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables a story's life writes, to compare before and after a refused command."""
    return asyncio.run(_store_snapshot())


def execute(statement: Any) -> None:
    asyncio.run(_execute(statement))


def rows_of(story_id: str) -> list[Any]:
    return asyncio.run(_rows(story_id))


@dataclass
class Desk:
    """The working directory of one test: readers added, the sample story ingested (not delivered yet)."""

    path: Path
    story_id: str
    bot_api: FakeBotAPI
    smtp_sink: SmtpSink

    def story_file(self, name: str, text: str) -> Path:
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def corrected(self) -> Path:
        """The sample story with one phrase of its lead (so of its headline and summary too) corrected."""
        text = SAMPLE_STORY.read_text(encoding="utf-8")
        assert text.count(ORIGINAL_WORDING) == 1
        return self.story_file("corrected.txt", text.replace(ORIGINAL_WORDING, CORRECTED_WORDING))

    def deliver(self) -> Result:
        result = newsbot("deliver")
        assert result.exit_code == 0, result.output
        return result

    def telegram_copy(self) -> int:
        """The message id the Telegram send returned, as the store recorded it."""
        (row,) = [
            row for row in rows_of(self.story_id) if row.channel == "telegram" and row.item_key.startswith("story:")
        ]
        assert row.status == "sent" and row.provider_id is not None
        return int(row.provider_id)

    def mails_to(self, address: str) -> list[Any]:
        return [
            message_from_bytes(mail.data, policy=email_policy)
            for mail in self.smtp_sink.messages
            if address in mail.rcpt_tos
        ]


@pytest.fixture
def threaded_bot_api() -> Iterator[FakeBotAPI]:
    """The fake Bot API on an event loop of its own thread: `newsbot deliver` must run in the main thread (it
    installs its Ctrl+C handlers there), and the fake answers meanwhile."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-bot-api", daemon=True)
    thread.start()
    api = FakeBotAPI()
    asyncio.run_coroutine_threadsafe(api.start(), loop).result(timeout=30)
    try:
        yield api
    finally:
        asyncio.run_coroutine_threadsafe(api.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


@pytest.fixture
def desk(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    migrated_sqlite: Path,
    threaded_bot_api: FakeBotAPI,
    smtp_sink: SmtpSink,
) -> Iterator[Desk]:
    bot_api = threaded_bot_api
    use_embedded_defaults(tmp_path, monkeypatch)
    if database_url.startswith("postgresql"):
        monkeypatch.setenv("NEWSBOT_DATABASE_URL", database_url)
    else:
        seed_migrated_store(tmp_path / "data", migrated_sqlite)
    monkeypatch.setenv("NEWSBOT_SECRET_KEY", "test-secret-of-at-least-32-characters")
    monkeypatch.setenv("NEWSBOT_TELEGRAM_TOKEN", "123456:TEST")
    monkeypatch.setenv("NEWSBOT_TELEGRAM_API_URL", bot_api.base_url)
    monkeypatch.setenv("NEWSBOT_SMTP_URL", smtp_sink.url)
    added = [
        newsbot("subscribers", "add", "--telegram-chat", str(CHAT), "--topic", "north-korea"),
        newsbot(
            "subscribers",
            "add",
            "--email",
            EMAIL,
            "--confirmed",
            "--topic",
            "north-korea",
            "--cadence",
            "email=instant",
        ),
    ]
    assert all(result.exit_code == 0 for result in added), [result.output for result in added]
    ingested = newsbot("ingest", str(SAMPLE_STORY), "--json")
    assert ingested.exit_code == 0, ingested.output
    yield Desk(tmp_path, json.loads(ingested.stdout)["id"], bot_api, smtp_sink)


def delivered(desk: Desk) -> int:
    """Deliver the story to both readers; returns the Telegram message id."""
    result = desk.deliver()
    assert "telegram 1" in result.stdout and "email 1" in result.stdout, result.stdout
    assert len(desk.mails_to(EMAIL)) == 1
    return desk.telegram_copy()


# --- correct -------------------------------------------------------------------------------------------------


def test_correct_then_deliver_edits_the_telegram_copy_in_place_and_mails_nobody(desk: Desk) -> None:
    message_id = delivered(desk)
    sends = len(desk.bot_api.sent_messages)

    corrected = newsbot("correct", desk.story_id, str(desk.corrected()), "--note", NOTE)
    assert corrected.exit_code == 0, corrected.output
    assert "(version 1 → 2)" in corrected.stdout
    assert "Telegram copies to edit: 1 in readers' chats" in corrected.stdout
    desk.deliver()

    (edit,) = desk.bot_api.calls_to("editMessageText")
    assert (int(edit["chat_id"]), int(edit["message_id"])) == (CHAT, message_id)
    text = desk.bot_api.text_of(CHAT, message_id) or ""
    assert CORRECTED_WORDING in text and f"Corrected: {NOTE}" in text
    assert len(desk.bot_api.sent_messages) == sends  # an edit, not a second message
    assert len(desk.mails_to(EMAIL)) == 1  # emails cannot change; nothing is mailed without --notify


def test_correct_with_notify_reaches_only_the_readers_who_got_it(desk: Desk) -> None:
    message_id = delivered(desk)
    late = newsbot(
        "subscribers", "add", "--email", "late@example.org", "--confirmed", "--topic", "north-korea",
        "--cadence", "email=instant",
    )  # fmt: skip
    assert late.exit_code == 0, late.output

    corrected = newsbot("correct", desk.story_id, str(desk.corrected()), "--note", NOTE, "--notify")
    assert corrected.exit_code == 0, corrected.output
    assert "correction notices: telegram 1, email 1" in corrected.stdout
    desk.deliver()

    (notice,) = desk.mails_to(EMAIL)[1:]
    assert notice["Subject"].startswith("Correction: ")
    assert NOTE in notice.get_body(("plain",)).get_content()
    assert desk.mails_to("late@example.org") == []
    notice_id = max(mid for chat, mid in desk.bot_api.messages if chat == CHAT)
    assert desk.bot_api.replies[(CHAT, notice_id)] == message_id


def test_correcting_twice_with_the_same_file_says_nothing_changed_the_second_time(desk: Desk) -> None:
    delivered(desk)
    path = str(desk.corrected())
    first = newsbot("correct", desk.story_id, path, "--note", NOTE)
    assert first.exit_code == 0, first.output
    desk.deliver()
    before = store_snapshot()

    second = newsbot("correct", desk.story_id, path, "--note", NOTE)
    assert second.exit_code == 0, second.output
    assert "unchanged: it already reads so, version 2" in second.stdout
    assert store_snapshot() == before
    desk.deliver()
    assert len(desk.bot_api.calls_to("editMessageText")) == 1


# --- retract -------------------------------------------------------------------------------------------------


def test_retract_then_deliver_deletes_the_telegram_copy(desk: Desk) -> None:
    message_id = delivered(desk)

    retracted = newsbot("retract", desk.story_id, "--note", "The launch was not confirmed.")
    assert retracted.exit_code == 0, retracted.output
    assert "(retracted)" in retracted.stdout and "Telegram copies: 1 to delete, 0 to replace" in retracted.stdout
    desk.deliver()

    assert (CHAT, message_id) in desk.bot_api.deleted
    assert desk.bot_api.text_of(CHAT, message_id) is None
    assert len(desk.mails_to(EMAIL)) == 1  # an email cannot be taken back, and no notice is mailed

    again = newsbot("retract", desk.story_id)
    assert again.exit_code == 0 and "already retracted; nothing changed" in again.stdout


def test_retract_replaces_a_copy_older_than_48_hours_with_the_withdrawal_notice(desk: Desk) -> None:
    message_id = delivered(desk)
    # The copy went out 49 hours ago: in the store (what retraction decides by) and in Telegram (which refuses).
    execute(
        update(deliveries)
        .where(deliveries.c.story_id == desk.story_id, deliveries.c.channel == "telegram")
        .values(sent_at=datetime.now(UTC) - timedelta(hours=49))
    )
    desk.bot_api.age_message(CHAT, message_id, hours=49)

    retracted = newsbot("retract", desk.story_id, "--note", "The launch was not confirmed.")
    assert retracted.exit_code == 0, retracted.output
    assert "Telegram copies: 0 to delete, 1 to replace with a notice" in retracted.stdout
    desk.deliver()

    assert desk.bot_api.calls_to("deleteMessage") == []
    notice = desk.bot_api.text_of(CHAT, message_id) or ""
    assert "has withdrawn this story" in notice and "The launch was not confirmed." in notice


# --- stop, resume, schedule ----------------------------------------------------------------------------------


def test_stop_says_what_was_sent_and_resume_sends_the_rest_once(desk: Desk) -> None:
    # The email is not due during the first deliver, so it sends only the Telegram copy; then the email is due.
    email_row = update(deliveries).where(deliveries.c.story_id == desk.story_id, deliveries.c.channel == "email")
    execute(email_row.values(not_before=datetime.now(UTC) + timedelta(hours=1)))
    desk.deliver()
    execute(email_row.values(not_before=datetime.now(UTC)))

    stopped = newsbot("stop", desk.story_id)
    assert stopped.exit_code == 0, stopped.output
    assert stopped.stdout.splitlines()[1:] == [
        "  sent: telegram 1 of 1, email 0 of 1",
        "  held: telegram 0, email 1; social posts 0",
    ]
    again = newsbot("stop", desk.story_id)
    assert again.exit_code == 0 and "already stopped at" in again.stdout

    status = json.loads((newsbot("status", "--json")).stdout)
    assert (status["stopped_stories"], status["stopped_deliveries"], status["stopped_social_posts"]) == (1, 1, 0)
    text = (newsbot("status")).stdout
    assert "Stopped stories: 1, holding 1 delivery and 0 social posts" in text

    resumed = newsbot("resume", desk.story_id)
    assert resumed.exit_code == 0, resumed.output
    assert "  queued again: telegram 0, email 1; social posts 0" in resumed.stdout
    desk.deliver()
    assert len(desk.mails_to(EMAIL)) == 1 and len(desk.bot_api.sent_to(CHAT)) == 1
    assert json.loads((newsbot("status", "--json")).stdout)["stopped_stories"] == 0

    noop = newsbot("resume", desk.story_id)
    assert noop.exit_code == 0 and "it was not stopped" in noop.stdout


SCHEDULED = """---
title: Pyongyang to hold a party congress
id: party-congress
topics: [north-korea]
---
North Korea said on Tuesday that its ruling party would hold a congress early next year.
"""


def test_schedule_moves_and_cancels_an_embargo_and_status_shows_it(desk: Desk) -> None:
    in_paris = timezone(timedelta(hours=1))
    first = (datetime.now(in_paris) + timedelta(hours=3)).replace(second=0, microsecond=0)
    later = first + timedelta(hours=2)
    ingested = newsbot("ingest", str(desk.story_file("congress.md", SCHEDULED)), "--at", first.isoformat())
    assert ingested.exit_code == 0, ingested.output

    moved = newsbot("schedule", "party-congress", "--at", later.isoformat())
    assert moved.exit_code == 0, moved.output
    assert f"goes out {later.isoformat()} (was {first.isoformat()})" in moved.stdout
    assert "moved: telegram 1, email 1; social posts 0" in moved.stdout
    delivered(desk)  # the sample story goes; the scheduled one waits
    assert {row.status for row in rows_of("party-congress")} == {"pending"}

    status = json.loads((newsbot("status", "--json")).stdout)
    assert status["scheduled_stories"] == 1
    assert status["next_scheduled"]["story"] == "party-congress"
    assert datetime.fromisoformat(status["next_scheduled"]["publish_at"]) == later
    text = newsbot("status").stdout
    assert f"Scheduled stories: 1 (next: party-congress at {later.astimezone(UTC):%Y-%m-%d %H:%M} UTC)" in text

    cancelled = newsbot("schedule", "party-congress", "--cancel")
    assert cancelled.exit_code == 0, cancelled.output
    assert "cancelled; nothing of it will be sent" in cancelled.stdout
    assert "cancelled: telegram 1, email 1; social posts 0" in cancelled.stdout
    assert {row.status for row in rows_of("party-congress")} == {"cancelled"}
    assert json.loads((newsbot("status", "--json")).stdout)["scheduled_stories"] == 0
    assert_refused(newsbot("schedule", "party-congress", "--at", later.isoformat()), "withdrawn")


def test_status_counts_the_changes_to_sent_messages_by_kind_and_status(desk: Desk) -> None:
    delivered(desk)
    assert (newsbot("correct", desk.story_id, str(desk.corrected()), "--notify")).exit_code == 0
    status = json.loads((newsbot("status", "--json")).stdout)
    assert status["message_changes"]["edit"] == {"pending": 1}
    assert status["message_changes"]["correction"] == {"pending": 2}
    desk.deliver()
    assert (newsbot("retract", desk.story_id)).exit_code == 0
    desk.deliver()

    status = json.loads((newsbot("status", "--json")).stdout)
    assert {key: status[key] for key in ("scheduled_stories", "stopped_stories", "stopped_deliveries")} == {
        "scheduled_stories": 0, "stopped_stories": 0, "stopped_deliveries": 0,
    }  # fmt: skip
    changes = {kind: by_status for kind, by_status in status["message_changes"].items() if by_status}
    assert changes == {"edit": {"sent": 1}, "correction": {"sent": 2}, "delete": {"sent": 1}}
    text = (newsbot("status")).stdout
    assert "Changes to sent messages (edits, correction notices, deletions, withdrawals) by status:" in text
    assert "  delete     sent 1" in text


# --- bad input: one line, non-zero, nothing changed --------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("correct", "no-such-story", "{corrected}"), ("no story with id 'no-such-story'",)),
        (("retract", "no-such-story"), ("no story with id 'no-such-story'",)),
        (("stop", "no-such-story"), ("no story with id 'no-such-story'",)),
        (("resume", "no-such-story"), ("no story with id 'no-such-story'",)),
        (("schedule", "no-such-story", "--at", "2030-01-01T06:00+01:00"), ("no story with id 'no-such-story'",)),
        (("schedule", "no-such-story", "--cancel"), ("no story with id 'no-such-story'",)),
        (("correct", "{story}", "{missing}"), ("missing.md",)),
        (("correct", "{story}", "{empty}"), ("empty.md",)),
        (("correct", "{story}", "{binary}"), ("binary.md",)),
        (("correct", "{story}", "{markup}"), ("markup.md", "front matter is not valid YAML")),
        (("correct", "{story}", "{directory}"), ("stories",)),
        (("correct", "{story}", "{corrected}", "--topic", "north-kora"), ("north-kora", "did you mean")),
        (("schedule", "{story}", "--at", "2030-01-01T06:00"), ("no UTC offset",)),
        (("schedule", "{story}", "--at", "next tuesday"), ("not an ISO 8601 date and time",)),
        (("schedule", "{story}"), ("--at TIME or --cancel",)),
        (("schedule", "{story}", "--at", "2030-01-01T06:00+01:00", "--cancel"), ("--at TIME or --cancel",)),
    ],
)
def test_a_bad_command_is_one_line_and_changes_nothing(
    desk: Desk, args: tuple[str, ...], fragments: tuple[str, ...]
) -> None:
    files = {
        "story": desk.story_id,
        "corrected": str(desk.corrected()),
        "missing": str(desk.path / "missing.md"),
        "directory": str(desk.story_file("stories/keep.md", "").parent),
        "empty": str(desk.story_file("empty.md", "")),
        "binary": str(desk.story_file("binary.md", "")),
        "markup": str(desk.story_file("markup.md", "---\ntitle: [unclosed\n---\nThe launch <b>was</b> seen.\n")),
    }
    (desk.path / "binary.md").write_bytes(b"\x00\x01\x02\xff" * 64)
    before = store_snapshot()
    assert_refused(newsbot(*(arg.format(**files) for arg in args)), *fragments)
    assert store_snapshot() == before


def test_a_retracted_story_cannot_be_retracted_into_anything_new_corrected_or_resumed(desk: Desk) -> None:
    delivered(desk)
    assert (newsbot("retract", desk.story_id)).exit_code == 0
    before = store_snapshot()

    assert_refused(newsbot("correct", desk.story_id, str(desk.corrected())), "retracted")
    assert_refused(newsbot("resume", desk.story_id), "cannot resume")
    assert_refused(newsbot("schedule", desk.story_id, "--cancel"))
    again = newsbot("retract", desk.story_id)
    assert again.exit_code == 0 and "already retracted; nothing changed" in again.stdout
    assert store_snapshot() == before


def test_a_story_that_went_out_cannot_be_scheduled_or_cancelled(desk: Desk) -> None:
    delivered(desk)
    before = store_snapshot()
    assert_refused(newsbot("schedule", desk.story_id, "--at", "2030-01-01T06:00+01:00"))
    assert_refused(newsbot("schedule", desk.story_id, "--cancel"))
    assert store_snapshot() == before
