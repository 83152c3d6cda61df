"""The buttons under the reader bot's messages: the topic picker's topics, pages and Done, the cadence choices of
/settings and the /stop confirmation. Each redraws the message it belongs to, in the chat's language, and answers
the callback query last.
"""

from __future__ import annotations

import logging

from telegram import CallbackQuery, Chat, InlineKeyboardMarkup, Update
from telegram.error import BadRequest

from bot.readers import topic_keyboards as keyboards
from bot.readers.chat_context import ChatContext
from bot.readers.chat_follows import followed_topics
from bot.readers.chat_handlers import chat_button
from bot.readers.chat_replies import Voice, names_of, picker_text, settings_text
from subscribers import chat_readers, follows, readers
from subscribers.schema import ChannelName

logger = logging.getLogger(__name__)


@chat_button(changes_follows=True)
async def toggle_topic(update: Update, context: ChatContext, query: CallbackQuery, chat: Chat, data: str) -> None:
    """A topic button: follow or unfollow it, redraw the same message with the new check marks, then confirm.

    Like every button handler here, it answers the callback query last, once everything else is done.
    """
    _ = context.gettext
    voice = Voice.of(chat.type, context.language)
    taxonomy = context.newsroom.taxonomy
    toggle = keyboards.parse_toggle(data)
    page = keyboards.clamp_page(taxonomy, toggle.page)
    if toggle.slug not in taxonomy:
        followed = await followed_topics(context, chat.id)
        await edit_in_place(
            query, picker_text(followed, voice), keyboards.topic_picker(taxonomy, followed, voice, page)
        )
        await query.answer(_("That topic no longer exists."))
        return
    now = context.newsroom.clock.now()
    async with context.newsroom.engine.begin() as conn:
        subscriber_id = await chat_readers.open_chat(
            conn, str(chat.id), chat.type, now, language=context.first_language
        )
        following = await follows.toggle_follow(conn, subscriber_id, toggle.slug, now)
        reader = await chat_readers.find_chat_reader(conn, str(chat.id))
    followed = reader.topics if reader else []
    name = {"topic": taxonomy[toggle.slug].name}
    await edit_in_place(query, picker_text(followed, voice), keyboards.topic_picker(taxonomy, followed, voice, page))
    await query.answer(_("Following %(topic)s") % name if following else _("Stopped following %(topic)s") % name)


@chat_button(changes_follows=False)
async def show_page(update: Update, context: ChatContext, query: CallbackQuery, chat: Chat, data: str) -> None:
    """The picker's ‹ Back and More › buttons."""
    followed = await followed_topics(context, chat.id)
    voice = Voice.of(chat.type, context.language)
    page = keyboards.clamp_page(context.newsroom.taxonomy, keyboards.parse_page(data))
    picker = keyboards.topic_picker(context.newsroom.taxonomy, followed, voice, page)
    await edit_in_place(query, picker_text(followed, voice), picker)
    await query.answer()


@chat_button(changes_follows=False)
async def close_picker(update: Update, context: ChatContext, query: CallbackQuery, chat: Chat, data: str) -> None:
    """The picker's Done button: replace the buttons with a summary of what is followed."""
    followed = await followed_topics(context, chat.id)
    taxonomy = context.newsroom.taxonomy
    _ = context.gettext
    voice = Voice.of(chat.type, context.language)
    if followed:
        chosen = voice.follows(names_of([taxonomy[s] for s in followed if s in taxonomy], voice))
        text = _("Done. %(follows)s Change them any time with /topics; how often with /settings.") % {"follows": chosen}
    else:
        pick = _("Pick some any time with /topics.")
        text = f"{voice.follows_nothing()} {pick}"
    await edit_in_place(query, text, None)
    await query.answer()


async def ignore_button(update: Update, context: ChatContext) -> None:
    """The page counter is a label, not an action; answering stops the button's spinner."""
    if update.callback_query is not None:
        await update.callback_query.answer()


@chat_button(changes_follows=True)
async def choose_cadence(update: Update, context: ChatContext, query: CallbackQuery, chat: Chat, data: str) -> None:
    """A cadence button in /settings: store it and redraw the message with the new choice checked."""
    choice = keyboards.parse_cadence_choice(data)
    async with context.newsroom.engine.begin() as conn:
        reader = await chat_readers.find_chat_reader(conn, str(chat.id))
        changed = (
            reader is not None
            and choice is not None
            and await readers.set_cadence(
                conn, reader.subscriber_id, choice.channel, choice.cadence, context.newsroom.clock.now()
            )
        )
        if changed:
            reader = await chat_readers.find_chat_reader(conn, str(chat.id))
    _ = context.gettext
    if not changed or reader is None or choice is None:
        await query.answer(_("That choice is no longer available; send /settings again."), show_alert=True)
        return
    voice = Voice.of(chat.type, context.language)
    channel = "Telegram" if choice.channel is ChannelName.TELEGRAM else _("Email")
    await edit_in_place(
        query,
        settings_text(reader, context.newsroom.settings, voice),
        keyboards.cadence_keyboard(reader.cadences, voice),
    )
    await query.answer(f"{channel}: {_(keyboards.CADENCE_LABELS[choice.cadence]).lower()}")


@chat_button(changes_follows=True)
async def confirm_stop(update: Update, context: ChatContext, query: CallbackQuery, chat: Chat, data: str) -> None:
    """The /stop buttons: erase the chat's reader (chat id, email, follows) or leave everything as it was."""
    _ = context.gettext
    voice = Voice.of(chat.type, context.language)
    if data.endswith(":no"):
        kept = voice.pick(
            _("Nothing changed: you keep your topics. /mytopics shows them."),
            _("Nothing changed: this chat keeps its topics. /mytopics shows them."),
        )
        await edit_in_place(query, kept, None)
        await query.answer()
        return
    async with context.newsroom.engine.begin() as conn:
        erased = await chat_readers.erase_chat_reader(conn, str(chat.id))
    if erased:
        logger.info("chat %s stopped; its reader's data was erased", chat.id)
    erased_text = voice.pick(
        _(
            "Done. No more news comes here, and your chat id, topics and any email address are erased from our "
            "records. Send /start whenever you want to begin afresh."
        ),
        _(
            "Done. No more news comes here, and this chat's chat id, topics and any email address are erased from "
            "our records. Send /start whenever you want to begin afresh."
        ),
    )
    await edit_in_place(query, erased_text, None)
    await query.answer(_("Erased"))


async def edit_in_place(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Redraw the message the button belongs to; a second tap that changes nothing is not an error."""
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():
            raise
