"""What every chat handler gets besides the update: PTB's CallbackContext plus the newsroom it works for.

The Application is built with ``ContextTypes(context=ChatContext)`` (see `bot.app.telegram_bot`), so handlers read
``context.newsroom`` instead of reaching for globals, and tests build an Application per store.
"""

from __future__ import annotations

from typing import Any

from telegram import Chat
from telegram.ext import CallbackContext, ExtBot

from bot.app.newsroom import Newsroom
from bot.channels import Channel
from bot.languages.catalogs import SOURCE_LANGUAGE, gettext_in, ngettext_in
from subscribers import chat_readers, reader_languages

#: Keys of ``application.bot_data`` set by `bot.app.telegram_bot.build_application`.
NEWSROOM = "newsroom"
EMAIL_CHANNEL = "email_channel"


class ChatContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """CallbackContext with typed access to the newsroom and the email channel (for /email confirmations), and
    the language of the chat being answered (`bot.readers.chat_language` sets it before each handler)."""

    language: str = SOURCE_LANGUAGE
    #: On a reader's first contact, the language to store with the reader it creates (None: store none).
    first_language: str | None = None

    def gettext(self, message: str) -> str:
        """*message* in the chat's language (English when its catalog lacks it)."""
        return gettext_in(self.language, message)

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        """The form of a message for *count* in the chat's language."""
        return ngettext_in(self.language, singular, plural, count)

    @property
    def newsroom(self) -> Newsroom:
        newsroom: Newsroom = self.bot_data[NEWSROOM]
        return newsroom

    @property
    def email_channel(self) -> Channel | None:
        channel: Channel | None = self.bot_data.get(EMAIL_CHANNEL)
        return channel


async def chat_subscriber(context: ChatContext, chat: Chat) -> int:
    """The chat's reader, created on first contact: a settings panel stores its choices on one, and must not
    reactivate a chat that stopped (a button tap is not a /start)."""
    async with context.newsroom.engine.begin() as conn:
        found = await reader_languages.chat_language(conn, str(chat.id))
        if found is not None:
            return found[0]
        return await chat_readers.open_chat(
            conn, str(chat.id), chat.type, context.newsroom.clock.now(), language=context.first_language
        )
