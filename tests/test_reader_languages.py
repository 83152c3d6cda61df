"""Readers in their own language on Telegram: from the app's language at first contact, /language to change it,
the command menu per language, and a group's language set by its admins. Against the fake Bot API over HTTP."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest

from bot.app.config import Settings
from subscribers import reader_languages
from tests.fakes import FakeBotAPI, SmtpSink
from tests.telegram_session import (
    ChatSession,
    buttons,
    chat,
    eventually,
    eventually_async,
    labels,
    live_settings,
    running_service,
)
from tests.test_chat_niceties import chat_with_mail

__all__ = ["chat", "chat_with_mail"]  # the fixtures, imported for this module's tests

READER = 5101
GROUP = -4343
ADMIN, MEMBER = 52, 53


async def stored_language(session: ChatSession, chat_id: int) -> str | None:
    async with session.newsroom.engine.connect() as conn:
        found = await reader_languages.chat_language(conn, str(chat_id))
    return found[1] if found else None


async def learnt_language(session: ChatSession, chat_id: int) -> str:
    """The language stored once the bot has answered a first contact (it is kept right after the reply)."""
    return await eventually_async(lambda: stored_language(session, chat_id), what=f"chat {chat_id}'s language")


async def test_a_german_reader_gets_german_from_start_to_stop(chat: ChatSession) -> None:
    welcome = await chat.say(READER, "/start", language_code="de")
    assert "Willkommen bei Fairview Gazette auf Telegram!" in welcome["text"]
    assert "Sie folgen noch keinem Thema." in welcome["text"]
    assert buttons(welcome)[-1] == [("Fertig", "done")]
    assert [label for label, _ in buttons(welcome)[-2]] == ["‹ Zurück", "1 / 3", "Mehr ›"]
    assert await learnt_language(chat, READER) == "de"

    answer = await chat.press(READER, welcome["message_id"], "tp:0:north-korea")
    assert answer["text"] == "North Korea abonniert"
    assert "Sie folgen 1 Thema." in chat.api.messages[(READER, welcome["message_id"])]["text"]

    helped = await chat.say(READER, "/help")
    assert "/settings – Wie oft: sofort, Wochenüberblick oder aus" in helped["text"]
    settings = await chat.say(READER, "/settings")
    assert "montags um 07:00 (UTC)" in settings["text"]
    assert "💬 ✅ Sofort" in labels(settings)

    question = await chat.say(READER, "/stop")
    assert question["text"].startswith("Alles beenden? Damit löschen wir Ihre 1 Thema")
    assert labels(question) == ["Ja, alles löschen", "Nein, Themen behalten"]
    await chat.press(READER, question["message_id"], "stop:yes")
    assert chat.api.messages[(READER, question["message_id"])]["text"].startswith("Erledigt. Hier kommen keine")


async def test_the_command_menu_is_registered_in_every_language(chat: ChatSession) -> None:
    german = {command["command"]: command["description"] for command in chat.api.localized_commands[(None, "de")]}
    assert german["stop"] == "Alles beenden und Ihre Daten löschen"
    assert german["language"] == "Die Sprache, in der ich Ihnen schreibe"
    spanish = {command["command"]: command["description"] for command in chat.api.localized_commands[(None, "es")]}
    assert spanish["topics"] == "Elegir temas con botones"
    english = {command["command"]: command["description"] for command in chat.api.localized_commands[(None, "en")]}
    assert english == {command["command"]: command["description"] for command in chat.api.commands}
    groups = [(scope, language) for scope, language in chat.api.localized_commands if scope is not None]
    assert sorted(language for _, language in groups) == ["de", "en", "es"]
    for key in groups:
        assert "email" not in {command["command"] for command in chat.api.localized_commands[key]}


async def test_language_buttons_change_the_language_and_the_choice_outlasts_the_app(chat: ChatSession) -> None:
    await chat.say(READER, "/start", language_code="de")
    assert await learnt_language(chat, READER) == "de"
    question = await chat.say(READER, "/language", language_code="de")
    assert labels(question) == ["English", "✅ Deutsch", "Español"]
    answer = await chat.press(READER, question["message_id"], "lang:es")
    assert answer["text"] == "Español"
    edited = chat.api.messages[(READER, question["message_id"])]
    assert "A partir de ahora te escribo en Español." in edited["text"]
    assert labels(edited) == ["English", "Deutsch", "✅ Español"]
    assert await stored_language(chat, READER) == "es"
    helped = await chat.say(READER, "/help", language_code="de")  # the app still says German: the choice stands
    assert "/stop – Parar todo y borrar tus datos" in helped["text"]
    stale = await chat.press(READER, question["message_id"], "lang:xx")
    assert "ya no está disponible" in stale["text"]


@pytest.mark.parametrize(
    ("app_language", "default", "greeting"),
    [
        ("fr", "en", "Welcome to Fairview Gazette on Telegram!"),
        ("fr", "es", "¡Te damos la bienvenida a Fairview Gazette en Telegram!"),
        (None, "de", "Willkommen bei Fairview Gazette auf Telegram!"),
        ("es-MX", "de", "¡Te damos la bienvenida a Fairview Gazette en Telegram!"),
    ],
)
async def test_a_language_newsbot_does_not_speak_falls_back_to_the_outlets(
    settings: Settings, bot_api: FakeBotAPI, app_language: str | None, default: str, greeting: str
) -> None:
    async with running_service(live_settings(settings, bot_api, default_language=default)) as service:
        session = ChatSession(bot_api, service)
        welcome = await session.say(READER, "/start", language_code=app_language)
        assert greeting in welcome["text"]


@pytest.fixture
async def group(chat: ChatSession) -> AsyncIterator[ChatSession]:
    chat.api.set_member_status(GROUP, ADMIN, "administrator")
    chat.api.set_member_status(GROUP, MEMBER, "member")
    yield chat


async def test_a_groups_language_is_set_by_its_admins(group: ChatSession) -> None:
    chat = group
    refused = await chat.say(GROUP, "/language@newsbot_test_bot", user_id=MEMBER)
    assert "Only this chat's admins" in refused["text"]
    question = await chat.say(GROUP, "/language@newsbot_test_bot", user_id=ADMIN)
    assert "write to this chat in" in question["text"]
    denied = await chat.press(GROUP, question["message_id"], "lang:de", user_id=MEMBER)
    assert denied["show_alert"] is True
    await chat.press(GROUP, question["message_id"], "lang:de", user_id=ADMIN)
    assert (
        "Ab jetzt schreibe ich diesem Chat auf Deutsch." in chat.api.messages[(GROUP, question["message_id"])]["text"]
    )
    followed = await chat.say(GROUP, "/follow@newsbot_test_bot north-korea", user_id=ADMIN)
    assert (
        "Dieser Chat folgt jetzt <b>North Korea</b>." in followed["text"]
        or "Dieser Chat folgt jetzt" in followed["text"]
    )
    looked = await chat.say(GROUP, "/topics@newsbot_test_bot", user_id=MEMBER)
    assert looked["text"].endswith("Nur die Admins dieses Chats können ändern, was er abonniert.")


async def test_a_german_reader_adding_email_gets_a_german_confirmation_and_notice(
    chat_with_mail: ChatSession, smtp_sink: SmtpSink
) -> None:
    chat = chat_with_mail
    await chat.say(READER, "/follow north-korea", language_code="de")
    assert await learnt_language(chat, READER) == "de"
    reply = await chat.say(READER, "/email leser@example.org", language_code="de")
    assert "Ich habe eine Bestätigungs-E-Mail an leser@example.org geschickt." in reply["text"]
    (mail,) = smtp_sink.messages
    message = email.message_from_bytes(mail.data, policy=email.policy.default)
    assert message["Subject"] == "Bestätigen Sie Ihr Abonnement von Fairview Gazette"
    text = message.get_body(("plain",)).get_content()
    link = urlsplit(re.search(r"https?://\S+/confirm/\S+", text).group(0))
    before = len(chat.api.sent_to(READER))
    async with httpx.AsyncClient(base_url=chat.service.web_url) as client:
        page = await client.get(link.path)
        assert '<html lang="de">' in page.text and "Sie haben abonniert" in page.text
        notice = await eventually(lambda: chat.api.sent_to(READER)[before:], what="the notice in the chat")
    assert notice == [
        "✅ leser@example.org ist bestätigt. Der Wochenüberblick Ihrer Themen geht montags um 07:00 (UTC) dorthin; "
        "Artikel kommen weiter wie bisher hierher. Wie oft, stellen Sie mit /settings ein."
    ]


async def test_a_german_reader_is_told_in_german_what_the_store_refuses(
    chat_with_mail: ChatSession, smtp_sink: SmtpSink
) -> None:
    chat = chat_with_mail
    await chat.say(READER, "/follow north-korea", language_code="de")
    assert await learnt_language(chat, READER) == "de"
    typo = await chat.say(READER, "/email leser@example", language_code="de")
    assert typo["text"].startswith("ungültige E-Mail-Adresse")
    assert typo["text"].endswith(": Der Teil nach dem @-Zeichen ist ungültig: Ihm fehlt ein Punkt.")
    assert smtp_sink.messages == []

    await chat.say(READER, "/email leser@example.org", language_code="de")
    again = await chat.say(READER, "/email leser@example.org", language_code="de")
    assert again["text"].startswith("wir haben eben erst eine Bestätigungs-E-Mail an leser@example.org geschickt;")
    assert "Minuten noch einmal" in again["text"] and len(smtp_sink.messages) == 1
