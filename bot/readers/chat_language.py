"""The language a chat is answered in: the one stored for its reader, else (in a reader's own chat) the language
of their Telegram app at first contact, else the outlet's default. A group's language is set by its admins with
/language; until then it is the outlet's."""

from __future__ import annotations

from telegram import Update
from telegram.constants import ChatType

from bot.languages.catalogs import language_of
from bot.readers.chat_context import ChatContext
from subscribers import reader_languages


async def settle_language(update: Update, context: ChatContext) -> None:
    """Set ``context.language`` for this update, and ``context.first_language`` when this is a reader's first contact
    in their own chat (the language any reader the update creates is stored with).

    A reader stored without a language (one who came before languages did) reads the outlet's default; a stored
    language the catalogs no longer have falls back the same way.
    """
    chat, user = update.effective_chat, update.effective_user
    if chat is None:
        return
    async with context.newsroom.engine.connect() as conn:  # the writer's pool is warm: no new connection per chat
        found = await reader_languages.chat_language(conn, str(chat.id))
    default = context.newsroom.settings.default_language
    if found is not None:
        context.language = language_of(found[1], default)
    elif chat.type == ChatType.PRIVATE and user is not None:
        context.language = context.first_language = language_of(user.language_code, default)
    else:  # a group the bot meets: the outlet's language until its admins choose one
        context.language = language_of(None, default)
