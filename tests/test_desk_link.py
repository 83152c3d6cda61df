"""``/desk`` in Telegram: an editor linked to a desk account gets a one-time sign-in link, without a link preview."""

from __future__ import annotations

import json

import httpx

from bot.app.newsroom import Newsroom
from bot.editors.desk_accounts import add_editor
from bot.web import create_app
from tests.editor_fixtures import (  # noqa: F401  (the *_fixture names are fixtures used by name)
    EDITOR,
    OTHER_EDITOR,
    READER,
    EditorChat,
    desk_clock_fixture,
    editor_chat_fixture,
)


async def test_desk_sends_a_linked_editor_a_one_time_link_without_preview(
    desk: Newsroom, editor_chat: EditorChat
) -> None:
    await add_editor(desk, "ana@example.org", telegram_id=EDITOR)
    (reply,) = await editor_chat.send("/desk")
    assert "Sign in to the desk</a> as ana@example.org" in reply and "15 minutes" in reply
    sent = editor_chat.api.calls_to("sendMessage")[-1]
    options = sent["link_preview_options"]
    assert (json.loads(options) if isinstance(options, str) else options)["is_disabled"] is True
    (url,) = [w for w in str(sent["text"]).replace('"', " ").split() if "/desk/login/" in w]

    transport = httpx.ASGITransport(app=create_app(desk))
    async with httpx.AsyncClient(transport=transport, base_url=desk.settings.public_url) as client:
        assert (await client.get(url)).status_code == 200  # a Sign in button; opening it uses nothing up
        assert (await client.post(url)).status_code == 303
        assert (await client.post(url)).status_code == 400


async def test_desk_without_an_account_says_how_to_get_one(desk: Newsroom, editor_chat: EditorChat) -> None:
    (reply,) = await editor_chat.send("/desk", user_id=OTHER_EDITOR)
    assert "no desk account" in reply and f"--telegram-id {OTHER_EDITOR}" in reply


async def test_desk_is_for_editors_in_private_chats_only(desk: Newsroom, editor_chat: EditorChat) -> None:
    await add_editor(desk, "ana@example.org", telegram_id=EDITOR)
    assert await editor_chat.send("/desk", user_id=READER) == ["editors only"]
    (reply,) = await editor_chat.send("/desk", chat_id=-500)
    assert "private chat" in reply and "/desk/login/" not in reply
