"""What a chat follows: reading it, and following topics in one transaction, for /start, /follow and the "Follow
<topic>" buttons alike, so each reply can say which topics were new and which were followed already.
"""

from __future__ import annotations

from collections.abc import Sequence

from telegram import Chat

from bot.readers.chat_context import ChatContext
from subscribers import chat_readers, follows


async def followed_topics(context: ChatContext, chat_id: int) -> list[str]:
    """The topics a chat follows (none before its first contact)."""
    async with context.newsroom.reader.connect() as conn:
        reader = await chat_readers.find_chat_reader(conn, str(chat_id))
    return reader.topics if reader else []


async def follow_in_chat(context: ChatContext, chat: Chat, slugs: Sequence[str]) -> tuple[frozenset[str], list[str]]:
    """Follow *slugs* in this chat, opening it on first contact; returns the topics it followed before (to tell
    the new ones from the rest) and every topic it follows now, both read in the same transaction."""
    now = context.newsroom.clock.now()
    async with context.newsroom.engine.begin() as conn:
        before = await chat_readers.find_chat_reader(conn, str(chat.id))
        subscriber_id = await chat_readers.open_chat(
            conn, str(chat.id), chat.type, now, language=context.first_language
        )
        await follows.set_follows(conn, subscriber_id, list(slugs), now)
        after = await chat_readers.find_chat_reader(conn, str(chat.id))
    return frozenset(before.topics if before else ()), after.topics if after else list(slugs)
