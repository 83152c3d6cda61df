"""Topics a reader named without the command: free text that names one, and the "Follow ..." buttons.

A reply that suggests a topic ("Did you mean North Korea?" after ``/follow``, a deep link or free text that names
a topic) carries a "Follow <topic>" button for each suggestion; a tap follows it and says so in the same message,
so the reader never has to retype a name.
"""

from __future__ import annotations

import html

from telegram import CallbackQuery, Chat, Update

from bot.readers import topic_keyboards as keyboards
from bot.readers.chat_commands import edit_in_place
from bot.readers.chat_context import ChatContext
from bot.readers.chat_handlers import chat_button
from bot.readers.chat_replies import Voice
from subscribers import chat_readers, follows

#: Free text longer than this is not taken for a topic name.
MAX_NAME_TEXT = 64


@chat_button(changes_follows=True)
async def follow_suggested(update: Update, context: ChatContext, query: CallbackQuery, chat: Chat, data: str) -> None:
    """A "Follow <topic>" button: follow it, and replace the suggestion with what changed."""
    taxonomy = context.newsroom.taxonomy
    slug = keyboards.parse_follow(data)
    if slug not in taxonomy:
        await query.answer("That topic no longer exists; /topics lists every topic.", show_alert=True)
        return
    topic = taxonomy[slug]
    voice = Voice.of(chat.type)
    now = context.newsroom.clock.now()
    async with context.newsroom.engine.begin() as conn:
        before = await chat_readers.find_chat_reader(conn, str(chat.id))
        subscriber_id = await chat_readers.open_chat(conn, str(chat.id), chat.type, now)
        await follows.set_follows(conn, subscriber_id, [slug], now)
    name = f"<b>{html.escape(topic.name)}</b>"
    if before is not None and slug in before.topics:
        text = f"{voice.follows('already')} {name}. See everything with /mytopics."
    else:
        text = f"✅ {voice.follows('now')} {name}. See everything with /mytopics."
    await edit_in_place(query, text, None)
    await query.answer(f"Following {topic.name}")


async def free_text(update: Update, context: ChatContext) -> None:
    """Text (or a photo, a sticker...) in a private chat: offer the topic it names, else point to the commands."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    typed = (message.text or "").strip()
    topic = context.newsroom.taxonomy.find(typed) if typed and len(typed) <= MAX_NAME_TEXT else None
    if topic is None:
        await message.reply_text(
            "I only understand commands. /topics picks what you want to read; /help lists everything I can do."
        )
        return
    async with context.newsroom.reader.connect() as conn:
        reader = await chat_readers.find_chat_reader(conn, str(chat.id))
    name = f"<b>{html.escape(topic.name)}</b>"
    if reader is not None and topic.slug in reader.topics:
        await message.reply_text(f"{Voice.of(chat.type).follows('already')} {name}. /mytopics shows everything.")
        return
    await message.reply_text(
        f"To follow {name}, tap the button (or send <code>/follow {topic.slug}</code>).",
        reply_markup=keyboards.follow_buttons(context.newsroom.taxonomy, [topic.slug]),
    )
