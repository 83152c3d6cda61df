"""Topics a reader named without the command: free text that names one, and the "Follow ..." buttons.

A reply that suggests a topic ("Did you mean North Korea?" after ``/follow``, a deep link or free text that names
a topic) carries a "Follow <topic>" button for each suggestion; a tap follows it and says so in the same message,
so the reader never has to retype a name.
"""

from __future__ import annotations

import html

from telegram import CallbackQuery, Chat, Update

from bot.readers import topic_keyboards as keyboards
from bot.readers.chat_buttons import edit_in_place
from bot.readers.chat_context import ChatContext
from bot.readers.chat_follows import follow_in_chat
from bot.readers.chat_handlers import chat_button
from bot.readers.chat_language import settle_language
from bot.readers.chat_replies import Voice
from subscribers import chat_readers

#: Free text longer than this is not taken for a topic name.
MAX_NAME_TEXT = 64


@chat_button(changes_follows=True)
async def follow_suggested(update: Update, context: ChatContext, query: CallbackQuery, chat: Chat, data: str) -> None:
    """A "Follow <topic>" button: follow it, and replace the suggestion with what changed."""
    taxonomy = context.newsroom.taxonomy
    slug = keyboards.parse_follow(data)
    _ = context.gettext
    if slug not in taxonomy:
        await query.answer(_("That topic no longer exists; /topics lists every topic."), show_alert=True)
        return
    topic = taxonomy[slug]
    voice = Voice.of(chat.type, context.language)
    already, _followed = await follow_in_chat(context, chat, [slug])
    name = f"<b>{html.escape(topic.name)}</b>"
    done = voice.already_follows(name) if slug in already else voice.now_follows(name)
    see = _("See everything with /mytopics.")
    await edit_in_place(query, f"{done} {see}", None)
    await query.answer(_("Following %(topic)s") % {"topic": topic.name})


async def free_text(update: Update, context: ChatContext) -> None:
    """Text (or a photo, a sticker...) in a private chat: offer the topic it names, else point to the commands."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    await settle_language(update, context)
    _ = context.gettext
    voice = Voice.of(chat.type, context.language)
    typed = (message.text or "").strip()
    topic = context.newsroom.taxonomy.find(typed) if typed and len(typed) <= MAX_NAME_TEXT else None
    if topic is None:
        await message.reply_text(
            _("I only understand commands. /topics picks what you want to read; /help lists everything I can do.")
        )
        return
    async with context.newsroom.reader.connect() as conn:
        reader = await chat_readers.find_chat_reader(conn, str(chat.id))
    name = f"<b>{html.escape(topic.name)}</b>"
    if reader is not None and topic.slug in reader.topics:
        shows = _("/mytopics shows everything.")
        await message.reply_text(f"{voice.already_follows(name)} {shows}")
        return
    await message.reply_text(
        _("To follow %(topic)s, tap the button (or send <code>/follow %(slug)s</code>).")
        % {"topic": name, "slug": topic.slug},
        reply_markup=keyboards.follow_buttons(context.newsroom.taxonomy, [topic.slug], voice),
    )
