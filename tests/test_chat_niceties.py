"""The small things readers notice in a chat: how they are addressed, names without commas, Follow buttons,
when the digest comes, what a group's member is shown, and a word in the chat when an email is confirmed."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from urllib.parse import urlsplit

import httpx
import pytest

from bot.app.config import Settings
from tests.fakes import FakeBotAPI, SmtpSink
from tests.telegram_session import ChatSession, buttons, chat, eventually, live_settings, running_service

__all__ = ["chat"]  # the fixture, imported for this module's tests

READER = 5101
GROUP = -5151
ADMIN, MEMBER = 52, 53


async def test_follow_without_commas_finds_names_of_several_words(chat: ChatSession) -> None:
    reply = await chat.say(READER, "/follow us politics north korea")
    assert reply["text"].startswith("✅ You now follow North Korea and US Politics.") or reply["text"].startswith(
        "✅ You now follow US Politics and North Korea."
    )
    assert (await chat.reader(READER)).topics == ["north-korea", "us-politics"]

    reply = await chat.say(READER, "/follow world news local middle east")
    assert "You now follow World, Local and Middle East." in reply["text"]
    assert set((await chat.reader(READER)).topics) >= {"world", "local", "middle-east"}


async def test_a_misspelt_name_in_several_words_is_one_suggestion_with_a_follow_button(chat: ChatSession) -> None:
    reply = await chat.say(READER, "/follow north koreaa")
    assert "I don't know the topic “north koreaa”. Did you mean North Korea?" in reply["text"]
    assert "Nothing was changed." in reply["text"]
    assert buttons(reply) == [[("Follow North Korea", "fl:north-korea")]]
    assert (await chat.reader(READER)) is None or (await chat.reader(READER)).topics == []

    answer = await chat.press(READER, reply["message_id"], "fl:north-korea")
    assert answer["text"] == "Following North Korea"
    edited = chat.api.messages[(READER, reply["message_id"])]
    assert edited["text"].startswith("✅ You now follow North Korea.") and "reply_markup" not in edited
    assert (await chat.reader(READER)).topics == ["north-korea"]


async def test_free_text_naming_a_topic_offers_a_button_that_follows_it(chat: ChatSession) -> None:
    reply = await chat.say(READER, "Sports")
    assert "To follow Sports, tap the button" in reply["text"]
    assert buttons(reply) == [[("Follow Sports", "fl:sports")]]
    await chat.press(READER, reply["message_id"], "fl:sports")
    assert (await chat.reader(READER)).topics == ["sports"]

    again = await chat.say(READER, "sport")
    assert again["text"] == "You already follow Sports. /mytopics shows everything."
    assert "reply_markup" not in again
    other = await chat.say(READER, "good morning")
    assert "I only understand commands" in other["text"]


async def test_a_deep_link_to_a_topic_already_followed_says_so(chat: ChatSession) -> None:
    await chat.say(READER, "/follow local")
    reply = await chat.say(READER, "/start local")
    assert "You already follow Local: nothing changed." in reply["text"]
    assert "now follow" not in reply["text"]


async def test_settings_say_when_the_weekly_digest_comes(settings: Settings, bot_api: FakeBotAPI) -> None:
    live = live_settings(
        settings, bot_api, digest_weekday="friday", digest_time=dt.time(18, 30), digest_timezone="Europe/Berlin"
    )
    async with running_service(live) as service:
        session = ChatSession(bot_api, service)
        reply = await session.say(READER, "/settings")
    assert "Weekly digest: one message a week, on Fridays at 18:30 (Europe/Berlin)" in reply["text"]


async def test_a_group_is_this_chat_and_its_help_leaves_out_private_commands(chat: ChatSession) -> None:
    chat.api.set_member_status(GROUP, ADMIN, "administrator")
    chat.api.set_member_status(GROUP, MEMBER, "member")
    reply = await chat.say(GROUP, "/follow@newsbot_test_bot local", user_id=ADMIN)
    assert reply["text"].startswith("✅ This chat now follows Local.")

    group_help = await chat.say(GROUP, "/help", user_id=MEMBER)
    lines = group_help["text"].splitlines()
    assert not any(line.startswith("/email") for line in lines)
    assert any(line.startswith("/follow") for line in lines) and any(line.startswith("/stop") for line in lines)
    assert "private chat with @newsbot_test_bot" in group_help["text"]
    private_help = await chat.say(READER, "/help")
    assert any(line.startswith("/email ") for line in private_help["text"].splitlines())

    group_menu = chat.api.scoped_commands['{"type":"all_group_chats"}']
    assert [command["command"] for command in group_menu] == [
        command["command"] for command in chat.api.commands if command["command"] != "email"
    ]

    start = await chat.say(GROUP, "/start", user_id=MEMBER)
    assert "reply_markup" not in start and "This chat follows Local." in start["text"]


@pytest.fixture
async def chat_with_mail(settings: Settings, bot_api: FakeBotAPI, smtp_sink: SmtpSink):
    async with running_service(live_settings(settings, bot_api, smtp_url=smtp_sink.url)) as service:
        yield ChatSession(bot_api, service)


async def test_confirming_an_email_in_the_browser_is_acknowledged_in_the_chat_once(
    chat_with_mail: ChatSession, smtp_sink: SmtpSink
) -> None:
    chat = chat_with_mail
    await chat.say(READER, "/follow north-korea")
    reply = await chat.say(READER, "/email reader@example.org")
    assert "I will tell you here when it is confirmed" in reply["text"]
    (mail,) = smtp_sink.messages
    text = email.message_from_bytes(mail.data, policy=email.policy.default).get_body(("plain",)).get_content()
    link = urlsplit(re.search(r"https?://\S+/confirm/\S+", text).group(0))
    before = len(chat.api.sent_to(READER))

    async with httpx.AsyncClient(base_url=chat.service.web_url) as client:
        page = await client.get(link.path)
        assert page.status_code == 200 and "You are subscribed" in page.text
        notice = await eventually(
            lambda: chat.api.sent_to(READER)[before:], what="the confirmation notice in the reader's chat"
        )
        assert notice == [
            "✅ reader@example.org is confirmed. The weekly digest of your topics goes there on Mondays at 07:00 "
            "(UTC); stories still come here as before. Change how often with /settings."
        ]
        assert (await chat.reader(READER)).email_status == "active"

        again = await client.get(link.path)
        assert again.status_code == 200 and "already subscribed" in again.text
    assert len(chat.api.sent_to(READER)) == before + 1  # followed twice, said once
