"""Desk accounts with a Telegram id are Telegram editors too, from the moment they are added until they go.

The bot asks the store on every editor command, so an account added or removed by another process (the CLI, the
desk) counts without a restart; the editor menus follow at the next refresh. Audit entries name the account.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from bot.app.newsroom import Newsroom
from bot.app.telegram_bot import refresh_editor_menus, register_commands
from bot.editors.desk_accounts import add_editor, editor_by_id, link_telegram, remove_editor
from subscribers.schema import audit_log
from tests.editor_fixtures import (  # noqa: F401  (the *_fixture names are fixtures used by name)
    EDITOR,
    EditorChat,
    desk_clock_fixture,
    editor_chat_fixture,
    readers_fixture,
)
from tests.newsroom_fixtures import SAMPLE_STORY

ANA = 7070  # a Telegram user who is not in NEWSBOT_EDITOR_IDS
SAMPLE = SAMPLE_STORY.read_text(encoding="utf-8")


def menu_chats(editor_chat: EditorChat) -> set[int]:
    return {json.loads(scope)["chat_id"] for scope in editor_chat.api.scoped_commands if '"chat"' in scope}


@pytest.mark.usefixtures("readers")
async def test_an_account_with_a_telegram_id_pushes_and_the_audit_names_the_account(
    desk: Newsroom, editor_chat: EditorChat
) -> None:
    assert await editor_chat.send("/push", user_id=ANA) == ["editors only"]
    await add_editor(desk, "ana@example.org", telegram_id=ANA, actor="cli:root")

    await editor_chat.send("/push\n" + SAMPLE, user_id=ANA)
    answer = await editor_chat.tap(editor_chat.panel(ANA), "Send to", user_id=ANA)

    assert answer["text"] == "Sent"
    async with desk.engine.connect() as conn:
        push = (await conn.execute(select(audit_log).where(audit_log.c.action == "push"))).one()
    assert push.actor == f"telegram:{ANA} (ana@example.org)" and push.recipients == 3


async def test_removing_or_unlinking_the_account_ends_its_telegram_editing_at_once(
    desk: Newsroom, editor_chat: EditorChat
) -> None:
    account = await add_editor(desk, "ana@example.org", telegram_id=ANA)
    assert (await editor_chat.send("/cancel", user_id=ANA))[0].startswith("Nothing to cancel")

    await link_telegram(desk, account.id, None, actor="desk:admin@example.org")
    assert await editor_chat.send("/stats", user_id=ANA) == ["editors only"]
    await link_telegram(desk, account.id, ANA, actor="desk:admin@example.org")
    assert "Send the story" in (await editor_chat.send("/push", user_id=ANA))[0]

    await remove_editor(desk, "ana@example.org")
    assert await editor_chat.send("/cancel", user_id=ANA) == ["editors only"]
    assert (await editor_chat.send("/cancel"))[0].startswith("Nothing to cancel")  # NEWSBOT_EDITOR_IDS still count


async def test_the_editor_menu_follows_the_accounts(desk: Newsroom, editor_chat: EditorChat) -> None:
    await register_commands(editor_chat.application)
    assert ANA not in menu_chats(editor_chat) and EDITOR in menu_chats(editor_chat)

    account = await add_editor(desk, "ana@example.org", telegram_id=ANA)
    calls = len(editor_chat.api.calls)
    await refresh_editor_menus(editor_chat.application)
    assert ANA in menu_chats(editor_chat)
    assert [method for method, _ in editor_chat.api.calls[calls:]] == ["setMyCommands"]  # only the new editor

    await remove_editor(desk, (await editor_by_id(desk, account.id)).email)
    await refresh_editor_menus(editor_chat.application)
    assert ANA not in menu_chats(editor_chat) and EDITOR in menu_chats(editor_chat)
