"""What every chat handler gets besides the update: PTB's CallbackContext plus the newsroom it works for.

The Application is built with ``ContextTypes(context=ChatContext)`` (see `bot.app.telegram_bot`), so handlers read
``context.newsroom`` instead of reaching for globals, and tests build an Application per store.
"""

from __future__ import annotations

from typing import Any

from telegram.ext import CallbackContext, ExtBot

from bot.app.newsroom import Newsroom
from bot.channels import Channel

#: Keys of ``application.bot_data`` set by `bot.app.telegram_bot.build_application`.
NEWSROOM = "newsroom"
EMAIL_CHANNEL = "email_channel"


class ChatContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """CallbackContext with typed access to the newsroom and the email channel (for /email confirmations)."""

    @property
    def newsroom(self) -> Newsroom:
        newsroom: Newsroom = self.bot_data[NEWSROOM]
        return newsroom

    @property
    def email_channel(self) -> Channel | None:
        channel: Channel | None = self.bot_data.get(EMAIL_CHANNEL)
        return channel
