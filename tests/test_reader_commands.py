"""Readers manage everything from a private chat: commands and buttons, against the fake Bot API over real HTTP."""

from __future__ import annotations

import email
import email.policy
import logging
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app.config import Settings
from bot.app.telegram_bot import handler_table
from bot.readers.topic_keyboards import TOPICS_PER_PAGE
from subscribers import readers as readers_store
from subscribers.schema import addresses, follows
from tests.fakes import FakeBotAPI, SmtpSink
from tests.fakes.bot_api import MAX_MESSAGE_LENGTH
from tests.telegram_session import ChatSession, buttons, chat, eventually, labels, live_settings, running_service

__all__ = ["chat"]  # the fixture, imported for this module's tests

READER = 5001


async def test_start_welcomes_the_reader_and_shows_the_topic_picker(chat: ChatSession) -> None:
    reply = await chat.say(READER, "/start")
    assert "Welcome to Fairview Gazette" in reply["text"]
    assert "/help" in reply["text"]
    rows = buttons(reply)
    topic_buttons = [button for row in rows[:-2] for button in row]
    assert len(topic_buttons) == TOPICS_PER_PAGE
    assert topic_buttons[0] == ("North Korea", "tp:0:north-korea")
    assert [label for label, _ in rows[-2]] == ["‹ Back", "1 / 3", "More ›"]
    assert rows[-1] == [("Done", "done")]
    assert all(len(data.encode()) <= 64 for row in rows for _, data in row)
    reader = await chat.reader(READER)
    assert reader is not None and reader.status == "active" and reader.topics == []
    assert reader.chat_type == "private"


async def test_the_command_menu_is_registered_at_start_up(chat: ChatSession) -> None:
    registered = [command["command"] for command in chat.api.commands]
    assert registered == [
        "start", "topics", "follow", "unfollow", "mytopics", "settings", "language", "email", "stop", "help"
    ]  # fmt: skip
    assert all(3 <= len(command["description"]) <= 256 for command in chat.api.commands)


async def test_help_lists_every_command_with_one_line_each(chat: ChatSession) -> None:
    reply = await chat.say(READER, "/help")
    for command in ("/start", "/topics", "/follow", "/unfollow", "/mytopics", "/settings", "/email", "/stop"):
        assert sum(line.startswith(command + " ") for line in reply["text"].splitlines()) == 1, command


async def test_a_deep_link_follows_its_topic_at_once_and_says_so(chat: ChatSession) -> None:
    reply = await chat.say(READER, "/start north-korea")
    assert "You now follow North Korea" in reply["text"]
    assert "✅ North Korea" in labels(reply)
    reader = await chat.reader(READER)
    assert reader is not None and reader.topics == ["north-korea"]


async def test_a_deep_link_opens_the_picker_on_the_page_of_its_topic(chat: ChatSession) -> None:
    reply = await chat.say(READER, "/start obituaries")
    assert "✅ Obituaries" in labels(reply)
    assert "3 / 3" in labels(reply)


async def test_a_deep_link_to_an_unknown_topic_suggests_one_and_follows_nothing(chat: ChatSession) -> None:
    reply = await chat.say(READER, "/start north-koreaa")
    assert "Did you mean North Korea?" in reply["text"]
    assert await chat.reader(READER) is None or (await chat.reader(READER)).topics == []


async def test_tapping_a_topic_toggles_it_and_edits_the_same_message(chat: ChatSession) -> None:
    picker = await chat.say(READER, "/topics")
    message_id = picker["message_id"]

    answer = await chat.press(READER, message_id, "tp:0:north-korea")
    assert answer.get("text") == "Following North Korea"
    edited = chat.api.messages[(READER, message_id)]
    assert "edit_date" in edited and "✅ North Korea" in labels(edited)
    assert "You follow 1 topic" in edited["text"]
    assert (await chat.reader(READER)).topics == ["north-korea"]

    answer = await chat.press(READER, message_id, "tp:0:north-korea")
    assert answer.get("text") == "Stopped following North Korea"
    assert "North Korea" in labels(chat.api.messages[(READER, message_id)])
    assert (await chat.reader(READER)).topics == []
    assert len(chat.api.sent_to(READER)) == 1, "toggles edit the picker instead of sending new messages"


async def test_the_picker_pages_through_a_long_taxonomy_and_keeps_its_page_on_toggles(chat: ChatSession) -> None:
    message_id = (await chat.say(READER, "/topics"))["message_id"]

    await chat.press(READER, message_id, "pg:2")
    last_page = chat.api.messages[(READER, message_id)]
    shown = labels(last_page)
    assert "Obituaries" in shown and "North Korea" not in shown and "3 / 3" in shown
    assert len([row for row in buttons(last_page)[:-2] for _ in row]) == 21 - 2 * TOPICS_PER_PAGE

    await chat.press(READER, message_id, "tp:2:obituaries")
    assert "✅ Obituaries" in labels(chat.api.messages[(READER, message_id)])

    more = dict(buttons(chat.api.messages[(READER, message_id)])[-2][2:])
    await chat.press(READER, message_id, next(iter(more.values())))  # "More ›" on the last page wraps around
    assert "North Korea" in labels(chat.api.messages[(READER, message_id)])

    answer = await chat.press(READER, message_id, "noop")
    assert not answer.get("text")


async def test_done_closes_the_picker_with_a_summary(chat: ChatSession) -> None:
    message_id = (await chat.say(READER, "/start local"))["message_id"]
    await chat.press(READER, message_id, "done")
    closed = chat.api.messages[(READER, message_id)]
    assert "You follow Local" in closed["text"] and "reply_markup" not in closed


async def test_follow_accepts_slugs_names_and_aliases_in_any_case(chat: ChatSession) -> None:
    reply = await chat.say(READER, "/follow NORTH-KOREA, us politics, Technology")
    assert "You now follow North Korea, US Politics and Tech" in reply["text"]
    reply = await chat.say(READER, "/follow dprk")
    assert "You already follow North Korea" in reply["text"]
    reply = await chat.say(READER, "/follow Middle East")
    assert "You now follow Middle East" in reply["text"]
    assert (await chat.reader(READER)).topics == ["middle-east", "north-korea", "tech", "us-politics"]


async def test_follow_with_an_unknown_name_suggests_the_closest_and_changes_nothing(chat: ChatSession) -> None:
    reply = await chat.say(READER, "/follow local, nort-korea")
    assert "I don't know the topic “nort-korea”. Did you mean North Korea?" in reply["text"]
    assert "Nothing was changed" in reply["text"]
    reader = await chat.reader(READER)
    assert reader is None or reader.topics == []


async def test_follow_without_a_name_explains_itself(chat: ChatSession) -> None:
    reply = await chat.say(READER, "/follow")
    assert "/follow north-korea" in reply["text"]


async def test_unfollow_some_topics_or_all_of_them(chat: ChatSession) -> None:
    await chat.say(READER, "/follow north-korea, local, sports")
    reply = await chat.say(READER, "/unfollow Local weather")
    assert "you no longer follow Local" in reply["text"]
    assert "You were not following Weather" in reply["text"]
    assert (await chat.reader(READER)).topics == ["north-korea", "sports"]
    reply = await chat.say(READER, "/unfollow spotrs")
    assert "Did you mean Sports?" in reply["text"]
    reply = await chat.say(READER, "/unfollow all")
    assert "you no longer follow North Korea and Sports" in reply["text"]
    assert (await chat.reader(READER)).topics == []


async def test_mytopics_lists_the_topics_and_the_cadence(chat: ChatSession) -> None:
    reply = await chat.say(READER, "/mytopics")
    assert "You follow no topic yet" in reply["text"]
    await chat.say(READER, "/follow north-korea, local")
    reply = await chat.say(READER, "/mytopics")
    assert "You follow 2 topics" in reply["text"]
    assert "• Local" in reply["text"] and "• North Korea" in reply["text"]
    assert "every story as it is published" in reply["text"]


async def test_settings_buttons_change_the_cadence_in_place(chat: ChatSession) -> None:
    await chat.say(READER, "/follow north-korea")
    settings = await chat.say(READER, "/settings")
    assert labels(settings) == [
        "💬 ✅ Instant",
        "💬 Weekly digest",
        "💬 Off",
        "🌐 Story languages",
        "🕒 Time zone and quiet hours",
    ]
    assert "/email" in settings["text"]

    answer = await chat.press(READER, settings["message_id"], "cad:telegram:weekly")
    assert answer.get("text") == "Telegram: weekly digest"
    edited = chat.api.messages[(READER, settings["message_id"])]
    assert labels(edited) == [
        "💬 Instant",
        "💬 ✅ Weekly digest",
        "💬 Off",
        "🌐 Story languages",
        "🕒 Time zone and quiet hours",
    ]
    assert (await chat.reader(READER)).cadences == {"telegram": "weekly"}

    await chat.press(READER, settings["message_id"], "cad:telegram:off")
    assert (await chat.reader(READER)).cadences == {"telegram": "off"}
    answer = await chat.press(READER, settings["message_id"], "cad:fax:daily")
    assert answer.get("show_alert") is True
    assert (await chat.reader(READER)).cadences == {"telegram": "off"}


@pytest.fixture
async def chat_with_mail(settings, bot_api: FakeBotAPI, smtp_sink: SmtpSink):
    async with running_service(live_settings(settings, bot_api, smtp_url=smtp_sink.url)) as service:
        yield ChatSession(bot_api, service)


async def test_email_sends_a_double_opt_in_mail_and_the_address_waits(
    chat_with_mail: ChatSession, smtp_sink: SmtpSink
) -> None:
    chat = chat_with_mail
    await chat.say(READER, "/follow north-korea")
    reply = await chat.say(READER, "/email Reader@Example.org")
    assert "sent a confirmation email to Reader@example.org" in reply["text"]
    (mail,) = smtp_sink.messages
    assert mail.rcpt_tos == ["Reader@example.org"]
    parsed = email.message_from_bytes(mail.data, policy=email.policy.default)
    assert "/confirm/" in parsed.get_body(preferencelist=("plain",)).get_content()
    reader = await chat.reader(READER)
    assert reader.email == "Reader@example.org" and reader.email_status == "pending"
    assert reader.cadences == {"telegram": "instant", "email": "weekly"}

    mytopics = await chat.say(READER, "/mytopics")
    assert "Reader@example.org (waiting for you to confirm it): a weekly digest" in mytopics["text"]
    settings = await chat.say(READER, "/settings")
    assert "✉️ ✅ Weekly digest" in labels(settings)
    await chat.press(READER, settings["message_id"], "cad:email:instant")
    assert (await chat.reader(READER)).cadences["email"] == "instant"


async def test_email_with_a_bad_address_says_why_and_stores_nothing(
    chat_with_mail: ChatSession, smtp_sink: SmtpSink
) -> None:
    chat = chat_with_mail
    reply = await chat.say(READER, "/email not-an-address")
    assert "invalid email address" in reply["text"]
    assert smtp_sink.messages == []
    reader = await chat.reader(READER)
    assert reader is None or reader.email is None


async def test_email_asked_twice_at_once_is_throttled(chat_with_mail: ChatSession, smtp_sink: SmtpSink) -> None:
    chat = chat_with_mail
    await chat.say(READER, "/email reader@example.org")
    reply = await chat.say(READER, "/email reader@example.org")
    assert "a moment ago" in reply["text"]
    assert len(smtp_sink.messages) == 1


async def test_email_without_an_address_explains_itself(chat: ChatSession) -> None:
    reply = await chat.say(READER, "/email")
    assert "/email you@example.org" in reply["text"]


async def test_stop_asks_first_and_confirming_erases_everything(chat_with_mail: ChatSession) -> None:
    chat = chat_with_mail
    await chat.say(READER, "/follow north-korea, local")
    await chat.say(READER, "/email reader@example.org")

    question = await chat.say(READER, "/stop")
    assert "2 topics, the email address reader@example.org" in question["text"]
    await chat.press(READER, question["message_id"], "stop:no")
    assert "Nothing changed" in chat.api.messages[(READER, question["message_id"])]["text"]
    assert (await chat.reader(READER)).topics == ["local", "north-korea"]

    question = await chat.say(READER, "/stop")
    await chat.press(READER, question["message_id"], "stop:yes")
    assert "erased" in chat.api.messages[(READER, question["message_id"])]["text"]
    async with chat.newsroom.engine.connect() as conn:
        assert await readers_store.count_subscribers(conn) == 0
        assert (await conn.execute(select(func.count()).select_from(addresses))).scalar_one() == 0
        assert (await conn.execute(select(func.count()).select_from(follows))).scalar_one() == 0

    again = await chat.say(READER, "/start")
    assert "Welcome back" not in again["text"]
    assert (await chat.reader(READER)).topics == []


async def test_stop_without_a_subscription_says_there_is_nothing_to_stop(chat: ChatSession) -> None:
    reply = await chat.say(READER, "/stop")
    assert "nothing to stop" in reply["text"]


async def test_unknown_commands_and_free_text_get_a_pointer_not_silence(chat: ChatSession) -> None:
    reply = await chat.say(READER, "/subscribe <b>now</b>")
    assert "I don't know /subscribe" in reply["text"] and "/help" in reply["text"]
    reply = await chat.say(READER, "hello?")
    assert "/topics" in reply["text"] and "/help" in reply["text"]
    reply = await chat.say(READER, "north korea")
    assert "/follow north-korea" in reply["text"]
    chat.api.push_update(
        {
            "message": {
                "message_id": 999,
                "from": {"id": READER, "is_bot": False, "first_name": "Reader"},
                "chat": {"id": READER, "type": "private", "first_name": "Reader"},
                "date": 1_700_000_000,
                "sticker": {
                    "file_id": "s1", "file_unique_id": "u1", "type": "regular", "width": 512, "height": 512,
                    "is_animated": False, "is_video": False,
                },
            }
        }
    )  # fmt: skip
    await eventually(lambda: len(chat.api.sent_to(READER)) == 4, what="an answer to a sticker")
    assert "I only understand commands" in chat.api.sent_to(READER)[-1]


async def test_text_a_reader_typed_is_escaped_in_replies(chat: ChatSession) -> None:
    reply = await chat.say(READER, "/follow <b>&amp;</b>")
    assert "“<b>&amp;</b>”" in reply["text"]  # the fake parsed our HTML: the reader's markup came back as text


async def test_two_hundred_readers_subscribing_at_once_lose_nothing(
    chat: ChatSession, caplog: pytest.LogCaptureFixture
) -> None:
    slugs = [topic.slug for topic in chat.newsroom.taxonomy]
    readers = {7000 + n: slugs[n % len(slugs)] for n in range(200)}
    with caplog.at_level(logging.WARNING):
        for chat_id, slug in readers.items():
            chat.api.push_message(chat_id, f"/start {slug}")
            chat.api.push_message(chat_id, "/follow local")
        await eventually(
            lambda: all(len(chat.api.sent_to(chat_id)) == 2 for chat_id in readers),
            what="two answers for each of 200 readers",
            within=60,
        )
    async with chat.newsroom.engine.connect() as conn:
        views = await readers_store.list_subscribers(conn)
    followed = {int(view.addresses["telegram"]["address"]): set(view.topics) for view in views}
    assert followed == {chat_id: {slug, "local"} for chat_id, slug in readers.items()}
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert all("You now follow" in chat.api.sent_to(chat_id)[0] for chat_id in readers)


async def test_one_chats_updates_are_handled_in_the_order_they_arrived(chat: ChatSession) -> None:
    message_id = (await chat.say(READER, "/topics"))["message_id"]
    for _ in range(5):  # five quick taps: followed, unfollowed, ... followed
        chat.api.push_callback_query(READER, message_id, "tp:0:north-korea")
    await eventually(lambda: len(chat.api.calls_to("answerCallbackQuery")) == 5, what="five answered taps")
    assert [call.get("text") for call in chat.api.calls_to("answerCallbackQuery")] == [
        "Following North Korea",
        "Stopped following North Korea",
    ] * 2 + ["Following North Korea"]
    assert (await chat.reader(READER)).topics == ["north-korea"]


def test_the_handler_table_takes_other_modules_handlers_before_its_fallbacks() -> None:
    from telegram.ext import CommandHandler

    async def push(update: object, context: object) -> None:
        """An editor command from another module."""

    table = handler_table([CommandHandler("push", push)])
    names = [next(iter(h.commands)) if isinstance(h, CommandHandler) else type(h).__name__ for h in table]
    assert names.index("push") > names.index("stop")
    assert names[-3:] == ["MessageHandler", "MessageHandler", "CallbackQueryHandler"]


# --- replies built from what readers typed fit one Telegram message (4,096 characters) -------------------


def many_topics_file(tmp_path: Path, count: int = 120) -> Path:
    """A taxonomy of *count* topics with long names, so that lists of them overflow one message."""
    blocks = [
        f'[[topic]]\nslug = "district-{n:03}"\nname = "Regional affairs of the county district {n:03}"\n'
        for n in range(count)
    ]
    path = tmp_path / "many-topics.toml"
    path.write_text("\n".join(blocks), encoding="utf-8")
    return path


def fits(text: str) -> bool:
    return len(text.encode("utf-16-le")) // 2 <= MAX_MESSAGE_LENGTH


async def test_follow_with_119_unknown_names_answers_the_first_ten_and_how_many_more(chat: ChatSession) -> None:
    names = ", ".join(f"imaginary topic {n}" for n in range(119))
    reply = (await chat.say(READER, f"/follow {names}"))["text"]
    assert fits(reply) and "Sorry" not in reply
    assert reply.count("I don't know the topic") == 10
    assert "… and 109 more unknown names." in reply and reply.endswith("Nothing was changed.")
    reply = (await chat.say(READER, f"/unfollow {names}"))["text"]
    assert fits(reply) and "… and 109 more unknown names." in reply
    assert await chat.reader(READER) is None or not (await chat.reader(READER)).topics


async def test_lists_of_many_followed_topics_are_summarised(
    settings: Settings, bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    live = live_settings(settings, bot_api, topics_file=many_topics_file(tmp_path))
    async with running_service(live) as service:
        chat = ChatSession(bot_api, service)
        every = ", ".join(f"district-{n:03}" for n in range(120))
        followed = (await chat.say(READER, f"/follow {every}"))["text"]
        assert fits(followed) and followed.startswith("✅ You now follow")
        assert "… and 110 more" in followed
        assert len((await chat.reader(READER)).topics) == 120
        again = (await chat.say(READER, f"/follow {every}"))["text"]
        assert fits(again) and "You already follow" in again and "… and 110 more" in again
        listed = (await chat.say(READER, "/mytopics"))["text"]
        assert fits(listed) and listed.startswith("You follow 120 topics")
        assert listed.count("• Regional affairs") == 50 and "… and 70 more" in listed
        gone = (await chat.say(READER, "/unfollow all"))["text"]
        assert fits(gone) and "you no longer follow" in gone and "… and 110 more" in gone


async def test_an_error_naming_a_huge_argument_is_shortened(chat_with_mail: ChatSession) -> None:
    reply = (await chat_with_mail.say(READER, "/email " + "x" * 5000 + "@example.org"))["text"]
    assert fits(reply) and reply.startswith("invalid email address 'xxx") and reply.endswith("…")
