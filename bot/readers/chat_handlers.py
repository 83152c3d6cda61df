"""The shapes of chat handlers: what a command or a button handler is given, checked once for all of them.

python-telegram-bot calls every handler with ``(update, context)``; most of ours need the chat and the message (or
the callback query and its data), and every button that changes what a chat follows must first check who tapped
it. These decorators do that in one place, so each handler starts with what it is about, answering in the chat's
language (`bot.readers.chat_language`).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from telegram import CallbackQuery, Chat, Message, Update

from bot.readers.chat_context import ChatContext
from bot.readers.chat_language import settle_language
from bot.readers.chat_membership import may_change_follows, refuse

#: A command handler that is given the chat and the message it answers.
InChatCommand = Callable[[Update, ChatContext, Chat, Message], Awaitable[None]]


def in_chat(command: InChatCommand) -> Callable[[Update, ChatContext], Awaitable[None]]:
    """Run *command* with the update's chat and message; an update without both (an edited channel post, a
    poll) has nothing to answer, so it is skipped."""

    @functools.wraps(command)
    async def handler(update: Update, context: ChatContext) -> None:
        chat, message = update.effective_chat, update.effective_message
        if chat is not None and message is not None:
            await settle_language(update, context)
            await command(update, context, chat, message)

    return handler


#: A button handler that is given the callback query, its chat and its data.
ChatButton = Callable[[Update, ChatContext, CallbackQuery, Chat, str], Awaitable[None]]


def chat_button(*, changes_follows: bool) -> Callable[[ChatButton], Callable[[Update, ChatContext], Awaitable[None]]]:
    """Run a button handler with its query, chat and data; one that *changes_follows* first checks that whoever
    tapped may change what the chat follows (in groups: an admin), and otherwise says why nothing happened."""

    def decorate(button: ChatButton) -> Callable[[Update, ChatContext], Awaitable[None]]:
        @functools.wraps(button)
        async def handler(update: Update, context: ChatContext) -> None:
            query, chat = update.callback_query, update.effective_chat
            if query is None or chat is None or query.data is None:
                return
            await settle_language(update, context)
            if changes_follows and not await may_change_follows(update, context):
                await refuse(update, context)
                return
            await button(update, context, query, chat, query.data)

        return handler

    return decorate


async def reply_lines(message: Message, *lines: object) -> None:
    """Reply with the lines that apply, one per line: callers pass ``condition and text``, so a false one drops."""
    await message.reply_text("\n".join(line for line in lines if isinstance(line, str) and line))
