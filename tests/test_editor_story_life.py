"""A story's life from the editor's Telegram desk: /correct, /update, /retract, Stop and Resume, Schedule.

The bot's Application talks HTTP to the fake Bot API, the store is a real SQLite file and the delivery worker
sends what the desk queued, so each test checks what readers' chats end up with (exact message ids).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.app.config import Settings
from bot.app.newsroom import Newsroom
from bot.app.telegram_bot import register_commands
from bot.channels import build_channels
from bot.channels.telegram import TelegramChannel
from bot.channels.telegram_rate_limit import TelegramRateLimiter
from bot.outbox.worker import DeliveryWorker
from subscribers.schema import audit_log, stories
from tests.editor_fixtures import (  # noqa: F401  (the *_fixture names are fixtures used by name)
    EDITOR,
    READER,
    EditorChat,
    buttons,
    desk_clock_fixture,
    editor_chat_fixture,
    readers_fixture,
)
from tests.fakes import FakeBotAPI
from tests.fakes.clock import GatedSleep, ManualClock, ManualMonotonic
from tests.newsroom_fixtures import SAMPLE_STORY, add_reader, paced_channels
from tests.telegram_session import eventually

SAMPLE = SAMPLE_STORY.read_text(encoding="utf-8")
CORRECTED = SAMPLE.replace("President Donald Trump", "US President Donald Trump", 1)
FOLLOW_UP = (
    "North Korea's foreign ministry on Tuesday answered the remarks, saying Pyongyang would study any offer of talks "
    "with the United States and that Kim Jong-un had no plans to travel."
)

Deliver = Callable[[], Any]


@pytest.fixture
async def deliver(desk: Newsroom, desk_settings: Settings) -> AsyncIterator[Deliver]:
    """Send everything due now, as `newsbot deliver` would."""
    channels = paced_channels(desk_settings)

    async def drain() -> Any:
        return await DeliveryWorker(desk, channels).drain(wait_for_retries=0)

    try:
        yield drain
    finally:
        for channel in channels.values():
            await channel.aclose()


async def story_id(desk: Newsroom) -> str:
    async with desk.engine.connect() as conn:
        return (await conn.execute(select(stories.c.id).order_by(stories.c.created_at.desc()))).scalars().first()


async def actions(desk: Newsroom) -> list[tuple[str, str]]:
    async with desk.engine.connect() as conn:
        return [(row.actor, row.action) for row in await conn.execute(select(audit_log).order_by(audit_log.c.id))]


def copy_id(api: FakeBotAPI, chat_id: int) -> int:
    """The message id of the (first) story copy the bot sent to *chat_id*."""
    return min(message_id for (chat, message_id) in api.messages if chat == chat_id)


def latest(api: FakeBotAPI, chat_id: int = EDITOR, *, label: str) -> dict[str, Any]:
    """The newest message in the chat with a button whose label contains *label*."""
    found = [
        m for (chat, _), m in sorted(api.messages.items()) if chat == chat_id and any(label in t for t, _ in buttons(m))
    ]
    assert found, f"no message with a {label!r} button"
    return found[-1]


async def pushed_and_delivered(editor_chat: EditorChat, deliver: Deliver) -> None:
    await editor_chat.send("/push " + SAMPLE)
    await editor_chat.tap(editor_chat.panel(), "Send to")
    await deliver()


# --- /correct ------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("readers")
async def test_correct_previews_its_reach_and_edits_each_readers_copy_in_place_once(
    desk: Newsroom, editor_chat: EditorChat, bot_api: FakeBotAPI, deliver: Deliver, desk_clock: ManualClock
) -> None:
    await pushed_and_delivered(editor_chat, deliver)
    copies = {chat: copy_id(bot_api, chat) for chat in (101, 102)}
    sid = await story_id(desk)

    (ask,) = await editor_chat.send(f"/correct {sid}")
    assert "Send the corrected story" in ask
    (note_question,) = await editor_chat.send(CORRECTED)
    assert "Send a short note" in note_question
    desk_clock.advance(seconds=30)  # not the rest of a paste: the note
    preview, panel_text = await editor_chat.send("The remark was made by the US president.")
    assert "US President Donald Trump" in preview
    assert "edits 2 Telegram copies in readers' chats in place" in panel_text
    assert "Emails cannot change: 1 reader got it by email" in panel_text
    assert "short notice to the 3 readers who got it (telegram 2, email 1)" in panel_text

    panel = latest(bot_api, label="Correct and notify")
    assert (await editor_chat.tap(panel, "✅ Correct"))["text"] == "Done"
    assert (
        "is version 2; 2 Telegram copies queued for an edit in place"
        in editor_chat.message(EDITOR, panel["message_id"])["text"]
    )
    assert "closed" in (await editor_chat.tap_data(panel, buttons(panel)[0][1]))["text"]  # a double tap
    await deliver()

    edits = [(call["chat_id"], call["message_id"]) for call in bot_api.calls_to("editMessageText")]
    for chat, message_id in copies.items():
        assert edits.count((chat, message_id)) == 1
        assert "US President Donald Trump" in (bot_api.text_of(chat, message_id) or "")
    assert (f"telegram:{EDITOR}", "correct") in await actions(desk)
    assert [a for _, a in await actions(desk)].count("correct") == 1


@pytest.mark.usefixtures("readers")
async def test_correct_and_notify_sends_the_notice_only_to_readers_who_got_the_story(
    desk: Newsroom, editor_chat: EditorChat, bot_api: FakeBotAPI, deliver: Deliver
) -> None:
    await pushed_and_delivered(editor_chat, deliver)
    copies = {chat: copy_id(bot_api, chat) for chat in (101, 102)}
    await add_reader(desk, "north-korea", telegram_chat="104")  # follows the topic, never got the story

    reply_to = bot_api.push_message(EDITOR, "/correct", user_id=EDITOR)
    await editor_chat.process(reply_to)  # no id: the latest stories as buttons
    await editor_chat.tap(latest(bot_api, label="Cancel"), "President")
    await editor_chat.send(CORRECTED)
    await editor_chat.tap(latest(bot_api, label="No note"), "No note")
    await editor_chat.tap(latest(bot_api, label="Correct and notify"), "Correct and notify")
    await deliver()

    for chat, message_id in copies.items():
        assert any(replied == message_id for (c, _), replied in bot_api.replies.items() if c == chat)
    assert bot_api.sent_to(103) == [] and bot_api.sent_to(104) == []


# --- /update -------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("readers")
async def test_update_drafts_a_follow_up_that_replies_to_each_readers_copy(
    desk: Newsroom, editor_chat: EditorChat, bot_api: FakeBotAPI, deliver: Deliver
) -> None:
    await pushed_and_delivered(editor_chat, deliver)
    original = copy_id(bot_api, 101)
    sid = await story_id(desk)

    (ask,) = await editor_chat.send(f"/update {sid}")
    assert "reaches the 3 readers who got it, as a reply to their copy" in ask
    _, panel_text = await editor_chat.send(FOLLOW_UP)
    assert "Follow-up to" in panel_text and "reaches the 3 readers who got that story" in panel_text
    await editor_chat.tap(editor_chat.panel(), "Send to")
    await deliver()

    async with desk.engine.connect() as conn:
        follow_up = (await conn.execute(select(stories).where(stories.c.id != sid))).one()
    assert follow_up.updates_story_id == sid
    replies = [replied for (chat, _), replied in bot_api.replies.items() if chat == 101]
    assert replies == [original]


# --- /retract ------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("readers")
async def test_retract_names_its_reach_takes_a_note_and_deletes_the_young_copies(
    desk: Newsroom, editor_chat: EditorChat, bot_api: FakeBotAPI, deliver: Deliver
) -> None:
    await pushed_and_delivered(editor_chat, deliver)
    copies = {chat: copy_id(bot_api, chat) for chat in (101, 102)}
    sid = await story_id(desk)

    (confirmation,) = await editor_chat.send(f"/retract {sid}")
    assert "deletes 2 Telegram copies younger than 48 h, replaces 0 older ones" in confirmation
    (with_note,) = [m["text"] for m in [latest(bot_api, label="Retract")]]
    await editor_chat.send("The remarks were misattributed.")
    panel = latest(bot_api, label="Retract")
    assert "Note: The remarks were misattributed." in panel["text"] and with_note
    await editor_chat.tap(panel, "Retract")
    assert "closed" in (await editor_chat.tap(panel, "Retract"))["text"]
    await deliver()

    deleted = [(call["chat_id"], call["message_id"]) for call in bot_api.calls_to("deleteMessage")]
    assert sorted(deleted) == sorted(copies.items())
    assert [a for _, a in await actions(desk)].count("retract") == 1
    (again,) = await editor_chat.send(f"/retract {sid}")
    assert "was retracted" in again


# --- Stop and Resume -----------------------------------------------------------------------------------------


async def test_stop_halts_a_send_midway_and_resume_sends_the_rest_once(
    desk: Newsroom, desk_settings: Settings, editor_chat: EditorChat, bot_api: FakeBotAPI
) -> None:
    readers = 20
    for n in range(readers):
        await add_reader(desk, "north-korea", telegram_chat=str(3000 + n))
    await editor_chat.send("/push " + SAMPLE)
    panel = editor_chat.panel()
    await editor_chat.tap(panel, "Send to")
    # The limiter's waits pass at once on a manual clock, except that once a few sends have gone out they are held
    # until the stop has landed; then the held sends (withdrawn), and later the resumed ones, go on.
    pace = ManualMonotonic()
    gate = GatedSleep(pace, hold_when=lambda: len(bot_api.sent_messages) >= 8)
    channels = build_channels(desk_settings, only=["email"])
    limiter = TelegramRateLimiter(5.0, clock=pace, sleep=gate)
    channels["telegram"] = TelegramChannel.from_settings(desk_settings, rate_limiter=limiter)
    worker_clock = ManualClock()
    try:
        drain = asyncio.create_task(DeliveryWorker(desk, channels, clock=worker_clock).drain(wait_for_retries=0))
        async with asyncio.timeout(30):
            await gate.held.wait()
        # No send passes the limiter now; those that did have been answered before the stop lands.
        await eventually(lambda: limiter.overall.in_flight == 0, what="the sends past the limiter answered")
        assert (await editor_chat.tap(editor_chat.message(EDITOR, panel["message_id"]), "Stop"))["text"] == "Stopped"
        at_stop = len(bot_api.sent_messages)
        worker_clock.advance(seconds=1)
        gate.opened.set()
        await drain
        assert len(bot_api.sent_messages) == at_stop  # every send still waiting was withdrawn
        sent_panel = editor_chat.message(EDITOR, panel["message_id"])
        assert "⏹ Stopped" in sent_panel["text"] and "Sent telegram" in sent_panel["text"]
        halted = sum(1 for m in bot_api.sent_messages if str(m.chat_id).startswith("30"))
        assert halted < readers

        assert (await editor_chat.tap(sent_panel, "Resume"))["text"] == "Resumed"
        # On the clock that stamped the halted rows: they are due again from the moment it moved to.
        await DeliveryWorker(desk, channels, clock=worker_clock).drain(wait_for_retries=0)
    finally:
        for channel in channels.values():
            await channel.aclose()
    for n in range(readers):
        assert len(bot_api.sent_to(3000 + n)) == 1  # everyone once
    assert [a for _, a in await actions(desk)][-2:] == ["stop", "resume"]


# --- Schedule ------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("readers")
async def test_schedule_holds_the_story_until_the_clock_passes_its_time_and_can_be_moved(
    desk: Newsroom, editor_chat: EditorChat, bot_api: FakeBotAPI, deliver: Deliver, desk_clock: ManualClock
) -> None:
    await editor_chat.send("/push " + SAMPLE)
    await editor_chat.tap(editor_chat.panel(), "Schedule")
    await editor_chat.tap(editor_chat.panel(), "In 1 hour")
    assert "Goes out at" in editor_chat.panel()["text"]
    panel = editor_chat.panel()
    await editor_chat.tap(panel, "Send to")
    sent_panel = editor_chat.message(EDITOR, panel["message_id"])
    assert sent_panel["text"].startswith("🕒 Scheduled: queued for telegram 2, email 1")
    assert [label for label, _ in buttons(sent_panel)] == ["🕒 Move", "✖ Cancel schedule"]

    await editor_chat.tap(sent_panel, "Move")
    await editor_chat.tap(editor_chat.message(EDITOR, panel["message_id"]), "Type a time")
    moment = (desk_clock.now() + timedelta(hours=2)).isoformat(timespec="minutes")
    (moved,) = await editor_chat.send(moment)
    assert moved.startswith("Goes out at")
    await deliver()
    assert bot_api.sent_to(101) == []

    desk_clock.advance(hours=1, minutes=30)
    await deliver()
    assert bot_api.sent_to(101) == []  # the embargo was moved an hour later
    desk_clock.advance(hours=1)
    await deliver()
    assert len(bot_api.sent_to(101)) == 1
    assert [a for _, a in await actions(desk)] == ["push", "schedule"]
    async with desk.engine.connect() as conn:
        entry = (await conn.execute(select(audit_log).where(audit_log.c.action == "schedule"))).one()
    assert json.loads(entry.details)["after"]["publish_at"].startswith(moment[:16])


@pytest.mark.usefixtures("readers")
async def test_cancel_schedule_sends_nothing_of_the_story(
    desk: Newsroom, editor_chat: EditorChat, bot_api: FakeBotAPI, deliver: Deliver, desk_clock: ManualClock
) -> None:
    await editor_chat.send("/story " + SAMPLE)
    await editor_chat.tap(editor_chat.panel(), "Schedule")
    await editor_chat.tap(editor_chat.panel(), "Tomorrow")
    panel = editor_chat.panel()
    await editor_chat.tap(panel, "Send to")
    assert (await editor_chat.tap(editor_chat.message(EDITOR, panel["message_id"]), "Cancel schedule"))["text"] == (
        "Schedule cancelled"
    )
    desk_clock.advance(days=2)
    await deliver()
    assert bot_api.sent_to(101) == []


# --- who may, and the menu -----------------------------------------------------------------------------------


async def test_non_editors_are_refused_each_story_life_command(desk: Newsroom, editor_chat: EditorChat) -> None:
    for command in ("/correct", "/update x", "/retract x"):
        assert await editor_chat.send(command, user_id=READER) == ["editors only"]
    assert await actions(desk) == []


async def test_without_stories_the_commands_say_there_is_nothing_to_change(editor_chat: EditorChat) -> None:
    assert await editor_chat.send("/retract") == ["No stories yet: there is nothing to change."]
    assert "No story with id nope" in (await editor_chat.send("/correct nope"))[0]


async def test_the_editor_menu_lists_exactly_the_commands_with_handlers(editor_chat: EditorChat) -> None:
    await register_commands(editor_chat.application)
    calls = editor_chat.api.calls_to("setMyCommands")
    readers = [command["command"] for command in calls[0]["commands"]]
    names = [
        command["command"]
        for command in next(c for c in calls[1:] if c.get("scope", {}).get("chat_id") == EDITOR)["commands"]
    ]
    editor_commands = ["push", "story", "correct", "update", "retract", "stats", "desk", "cancel"]
    assert names[: len(names) - len(readers)] == editor_commands
