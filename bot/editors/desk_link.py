"""``/desk``: an editor asks the bot for a one-time sign-in link to the desk on the web.

Only in a private chat (a link in a group would sign in whoever taps it first), and only for an editor whose
Telegram id is linked to a desk account (``newsbot editors add EMAIL --telegram-id ID``). The link goes out without
a link preview: Telegram's preview fetcher would otherwise open it, and a link works once.
"""

from __future__ import annotations

import html
from typing import Any

from telegram import LinkPreviewOptions, Update
from telegram.constants import ChatType, ParseMode
from telegram.ext import BaseHandler, CallbackContext, CommandHandler, filters

from bot.app.newsroom import Newsroom
from bot.editors.desk_access import editor_allowed
from bot.editors.desk_accounts import account_of_telegram_user, issue_login_link


def desk_link_handler(newsroom: Newsroom, only: filters.BaseFilter) -> BaseHandler[Any, Any, Any]:
    """/desk: a sign-in link for the editor's desk account, in their private chat."""

    async def desk(update: Update, context: CallbackContext[Any, Any, Any, Any]) -> None:
        message, user = update.effective_message, update.effective_user
        if message is None or user is None or not await editor_allowed(update, newsroom):
            return
        if message.chat.type != ChatType.PRIVATE:
            await message.reply_text("Send /desk to me in a private chat: a sign-in link is for you alone.")
            return
        account = await account_of_telegram_user(newsroom, user.id)
        if account is None:
            await message.reply_text(
                "You have no desk account linked to this Telegram account yet. An admin can add one with: "
                f"newsbot editors add YOUR-EMAIL --telegram-id {user.id}"
            )
            return
        link = await issue_login_link(newsroom, account)
        await message.reply_text(
            f'<a href="{html.escape(link.url)}">Sign in to the desk</a> as {html.escape(account.email)}.\n'
            f"The link works once, for {link.minutes} minutes; do not forward it.",
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )

    return CommandHandler("desk", desk, filters=only)
