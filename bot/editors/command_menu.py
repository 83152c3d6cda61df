"""The editors' own command menu: registered with ``setMyCommands`` scoped to each editor's private chat.

Telegram shows a chat-scoped menu instead of the default one, so an editor's menu lists the editor commands first
and the readers' commands after them. Only editor commands that have a handler in the bot are listed, so a command
another part of the desk has not built yet never appears in the menu.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from telegram import Bot, BotCommand, BotCommandScopeChat
from telegram.error import BadRequest
from telegram.ext import BaseHandler, CommandHandler, ConversationHandler

log = logging.getLogger(__name__)

#: Every editor command, in menu order, with its description in plain words.
EDITOR_COMMANDS = (
    ("push", "Breaking news: send a story to every follower now"),
    ("story", "Send a story: instant readers now, the weekly digest later"),
    ("correct", "Correct a story that went out, in readers' chats too"),
    ("update", "Follow up a developing story"),
    ("retract", "Withdraw a story and delete its messages"),
    ("stats", "The queue, the latest stories and their deliveries"),
    ("desk", "A sign-in link to the desk on the web"),
    ("cancel", "Drop the draft you are working on"),
)


def handled_commands(handlers: Iterable[BaseHandler[Any, Any, Any]]) -> set[str]:
    """Every command some handler answers, looking inside conversations (entry points, states, fallbacks)."""
    commands: set[str] = set()
    for handler in handlers:
        if isinstance(handler, CommandHandler):
            commands.update(handler.commands)
        elif isinstance(handler, ConversationHandler):
            inner = [*handler.entry_points, *handler.fallbacks]
            for state_handlers in handler.states.values():
                inner.extend(state_handlers)
            commands.update(handled_commands(inner))
    return commands


def editor_menu(handlers: Iterable[BaseHandler[Any, Any, Any]], reader_menu: Sequence[BotCommand]) -> list[BotCommand]:
    """The editors' menu: the editor commands that have handlers, then the readers' commands."""
    handled = handled_commands(handlers)
    editor = [BotCommand(name, description) for name, description in EDITOR_COMMANDS if name in handled]
    names = {command.command for command in editor}
    return editor + [command for command in reader_menu if command.command not in names]


async def sync_editor_menus(
    bot: Bot, editor_ids: Iterable[int], menu: Sequence[BotCommand], registered: set[int]
) -> None:
    """Give each editor's chat the editor menu and take it back from former editors (desk accounts come and go).

    *registered* holds the chats that have the menu; it is updated in place, so the next call only does the
    difference. An editor the bot cannot reach yet is logged, not fatal, and tried again next time.
    """
    wanted = set(editor_ids)
    for editor_id in sorted(wanted - registered):
        try:
            await bot.set_my_commands(menu, scope=BotCommandScopeChat(editor_id))
        except BadRequest as exc:
            log.warning("no editor menu for Telegram editor %s: %s", editor_id, exc.message)
        else:
            registered.add(editor_id)
    for former_id in sorted(registered - wanted):
        try:
            await bot.delete_my_commands(scope=BotCommandScopeChat(former_id))
        except BadRequest as exc:
            log.warning("could not take the editor menu back from Telegram user %s: %s", former_id, exc.message)
        registered.discard(former_id)
