"""What readers can do in a chat with the bot: one small handler per command or button, named after it.

Replies are Telegram HTML, with everything that comes from outside (topic names, what the reader typed) escaped.
Changes are made in one transaction each and the reply says exactly what changed; a reader's mistake (an unknown
topic, a bad email address) is answered with what to do instead, and nothing is changed. Errors nobody in the chat
can fix are logged and answered with an apology by :func:`report_error`.

In groups and channels, changing what the chat follows is for its admins (`bot.readers.chat_membership`).
"""

from __future__ import annotations

import html
import logging

from telegram import BotCommand, CallbackQuery, Chat, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError

from bot.app.errors import NewsbotError, TopicNotFound
from bot.readers import topic_keyboards as keyboards
from bot.readers.chat_context import ChatContext
from bot.readers.chat_handlers import chat_button, in_chat, reply_lines
from bot.readers.chat_membership import ADMINS_ONLY, may_change_follows, refuse
from bot.readers.chat_replies import (
    MYTOPICS_BUDGET,
    MYTOPICS_ITEMS,
    Voice,
    delivery_text,
    followed_text,
    lower_first,
    names_of,
    picker_text,
    resolve_names,
    settings_text,
    short_echo,
    suggested_slugs,
    topic_count,
    topic_names,
    unknown_topics_text,
)
from bot.readers.email_signup import request_email_confirmation
from bot.rendering.reply_limits import shorten, summarise
from bot.topics.taxonomy import Topic
from subscribers import chat_readers, follows, readers
from subscribers.schema import ChannelName

logger = logging.getLogger(__name__)

#: The menu: (command, arguments, what it does). /help prints it and setMyCommands registers it at start-up.
#: The commands of `PRIVATE_ONLY` are left out of both in groups and channels.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("start", "", "Welcome, and pick topics"),
    ("topics", "", "Pick topics with buttons"),
    ("follow", "<topic>", "Follow topics by name, e.g. /follow north-korea"),
    ("unfollow", "<topic>|all", "Stop following topics"),
    ("mytopics", "", "What this chat follows, and how often"),
    ("settings", "", "How often: instant, weekly digest or off"),
    ("email", "<address>", "Get the weekly digest by email too"),
    ("stop", "", "Stop everything and erase your data"),
    ("help", "", "Every command"),
)
#: Commands that only make sense in a reader's own chat.
PRIVATE_ONLY = frozenset({"email"})


def bot_commands(*, private: bool = True) -> list[BotCommand]:
    """The command menu Telegram shows next to the message field (in groups: without `PRIVATE_ONLY`)."""
    return [BotCommand(name, description) for name, _, description in COMMANDS if private or name not in PRIVATE_ONLY]


# --- commands ----------------------------------------------------------------------------------------------


@in_chat
async def start(update: Update, context: ChatContext, chat: Chat, message: Message) -> None:
    """Welcome the reader and show the topic picker; a deep link (``?start=<topic>``) follows that topic at once."""
    newsroom = context.newsroom
    welcome = (
        f"<b>Welcome to {html.escape(newsroom.settings.outlet_name)} on Telegram!</b>\n"
        "Follow the topics you care about and their stories come here as soon as they are published."
    )
    voice = Voice.of(chat.type)
    payload = " ".join(context.args or ())
    if payload:
        if not await may_change_follows(update, context):
            await refuse(update)
            return
        try:
            topic = newsroom.taxonomy.resolve(payload)
        except TopicNotFound as unknown:
            await message.reply_text(
                f"{welcome}\n\n{unknown_topics_text(newsroom.taxonomy, [unknown])}",
                reply_markup=keyboards.follow_buttons(newsroom.taxonomy, unknown.suggestions)
                or keyboards.topic_picker(newsroom.taxonomy, await _followed(context, chat.id)),
            )
            return
        now = newsroom.clock.now()
        async with newsroom.engine.begin() as conn:
            before = await chat_readers.find_chat_reader(conn, str(chat.id))
            subscriber_id = await chat_readers.open_chat(conn, str(chat.id), chat.type, now)
            await follows.set_follows(conn, subscriber_id, [topic.slug], now)
            reader = await chat_readers.find_chat_reader(conn, str(chat.id))
        followed = reader.topics if reader else [topic.slug]
        name = f"<b>{html.escape(topic.name)}</b>"
        if before is not None and topic.slug in before.topics:
            done = f"{voice.follows('already')} {name}: nothing changed."
        else:
            done = f"✅ {voice.follows('now')} {name}."
        await message.reply_text(
            f"{welcome}\n\n{done}\n\n{picker_text(followed, voice)}",
            reply_markup=keyboards.topic_picker(
                newsroom.taxonomy, followed, keyboards.page_of(newsroom.taxonomy, topic.slug)
            ),
        )
        return
    if chat.type == ChatType.PRIVATE:
        async with newsroom.engine.begin() as conn:
            await chat_readers.open_chat(conn, str(chat.id), chat.type, newsroom.clock.now())
    followed = await _followed(context, chat.id)
    back = f"\n\nWelcome back: {lower_first(voice.follows())} {topic_count(followed)}." if followed else ""
    if not await may_change_follows(update, context):  # a group's member: nothing to tap
        await message.reply_text(
            f"{welcome}\n\n{followed_text(newsroom.taxonomy, followed, voice)} {ADMINS_ONLY} "
            "/help lists everything I can do."
        )
        return
    await message.reply_text(
        f"{welcome}{back}\n\n{picker_text(followed, voice)} /help lists everything I can do.",
        reply_markup=keyboards.topic_picker(newsroom.taxonomy, followed),
    )


@in_chat
async def help_command(update: Update, context: ChatContext, chat: Chat, message: Message) -> None:
    """Every command, one line each; in a group or channel, only those that work there."""
    private = chat.type == ChatType.PRIVATE
    lines = [
        f"/{name}{' ' + html.escape(arguments) if arguments else ''} – {html.escape(description)}"
        for name, arguments, description in COMMANDS
        if private or name not in PRIVATE_ONLY
    ]
    outlet = html.escape(context.newsroom.settings.outlet_name)
    if private:
        note = "In groups and channels only admins change topics."
    else:
        note = (
            f"Only this chat's admins change its topics. Email is set up in a private chat with "
            f"@{html.escape(context.bot.username)}."
        )
    await message.reply_text(f"<b>{outlet} news bot</b>\n" + "\n".join(lines) + f"\n\n{note}")


@in_chat
async def topics(update: Update, context: ChatContext, chat: Chat, message: Message) -> None:
    """The topic picker: every topic as a button, a check mark on those followed; in a group, for its admins."""
    voice = Voice.of(chat.type)
    followed = await _followed(context, chat.id)
    if not await may_change_follows(update, context):  # a group's member would only be refused on every tap
        await message.reply_text(f"{followed_text(context.newsroom.taxonomy, followed, voice)} {ADMINS_ONLY}")
        return
    await message.reply_text(
        picker_text(followed, voice), reply_markup=keyboards.topic_picker(context.newsroom.taxonomy, followed)
    )


@in_chat
async def follow(update: Update, context: ChatContext, chat: Chat, message: Message) -> None:
    """``/follow <topic>...``: follow topics by slug, name or alias; an unknown name changes nothing."""
    usage = "Which topic? For example <code>/follow north-korea</code>, or pick from /topics."
    if not await _may_change_topics(update, context, usage):
        return
    found = await _topics_named(message, context, offer_buttons=True)
    if found is None:
        return
    voice = Voice.of(chat.type)
    now = context.newsroom.clock.now()
    async with context.newsroom.engine.begin() as conn:
        before = await chat_readers.find_chat_reader(conn, str(chat.id))
        subscriber_id = await chat_readers.open_chat(conn, str(chat.id), chat.type, now)
        await follows.set_follows(conn, subscriber_id, [topic.slug for topic in found], now)
    already = set(before.topics if before else ())
    added = [topic for topic in found if topic.slug not in already]
    kept = [topic for topic in found if topic.slug in already]
    await reply_lines(
        message,
        added and f"✅ {voice.follows('now')} {names_of(added)}.",
        kept and f"{voice.follows('already')} {names_of(kept)}.",
        "See everything with /mytopics.",
    )


@in_chat
async def unfollow(update: Update, context: ChatContext, chat: Chat, message: Message) -> None:
    """``/unfollow <topic>...`` or ``/unfollow all``."""
    usage = "Which topic? For example <code>/unfollow north-korea</code>, or <code>/unfollow all</code>."
    if not await _may_change_topics(update, context, usage):
        return
    taxonomy = context.newsroom.taxonomy
    voice = Voice.of(chat.type)
    everything = [arg.casefold() for arg in context.args or ()] == ["all"]
    chosen: list[str] | None = None
    if not everything:
        found = await _topics_named(message, context)
        if found is None:
            return
        chosen = [topic.slug for topic in found]
    async with context.newsroom.engine.begin() as conn:
        reader = await chat_readers.find_chat_reader(conn, str(chat.id))
        removed = await follows.unfollow_topics(conn, reader.subscriber_id, chosen) if reader else []
    not_followed = [taxonomy[s] for s in chosen or () if s not in removed]
    gone = [taxonomy[s] for s in removed if s in taxonomy]
    await reply_lines(
        message,
        removed and f"Done: {lower_first(voice.follows('no longer'))} {names_of(gone)}.",
        not_followed and f"{voice.was} not following {names_of(not_followed)}.",
        everything and not removed and f"{voice.was} not following any topic.",
        "Pick topics again any time with /topics.",
    )


@in_chat
async def mytopics(update: Update, context: ChatContext, chat: Chat, message: Message) -> None:
    """What this chat follows, and how often it hears about them on each channel."""
    async with context.newsroom.reader.connect() as conn:
        reader = await chat_readers.find_chat_reader(conn, str(chat.id))
    voice = Voice.of(chat.type)
    if reader is None or not reader.topics:
        await message.reply_text(f"{voice.follows()} no topic yet. Pick some with /topics.")
        return
    taxonomy = context.newsroom.taxonomy
    names = [f"• {html.escape(taxonomy[s].name if s in taxonomy else s)}" for s in reader.topics]
    listed = "\n".join(summarise(names, most=MYTOPICS_ITEMS, budget=MYTOPICS_BUDGET))
    await message.reply_text(
        f"<b>{voice.follows()} {topic_count(reader.topics)}</b>\n{listed}\n\n{delivery_text(reader)}\n\n"
        "Change topics with /topics, how often with /settings."
    )


@in_chat
async def settings(update: Update, context: ChatContext, chat: Chat, message: Message) -> None:
    """How often this chat hears from us on each channel, with buttons to change it."""
    async with context.newsroom.engine.begin() as conn:
        if chat.type == ChatType.PRIVATE:
            await chat_readers.open_chat(conn, str(chat.id), chat.type, context.newsroom.clock.now())
        reader = await chat_readers.find_chat_reader(conn, str(chat.id))
    if reader is None:
        await message.reply_text(f"{Voice.of(chat.type).follows()} no topic yet. Pick some with /topics first.")
        return
    text = settings_text(reader, context.newsroom.settings)
    if not await may_change_follows(update, context):  # a group's member: the buttons would only refuse
        await message.reply_text(f"{text}\n\n{ADMINS_ONLY}")
        return
    await message.reply_text(text, reply_markup=keyboards.cadence_keyboard(reader.cadences))


@in_chat
async def email(update: Update, context: ChatContext, chat: Chat, message: Message) -> None:
    """``/email <address>``: link an address for the weekly digest; it gets nothing until its owner confirms it."""
    if chat.type != ChatType.PRIVATE:
        await message.reply_text(
            f"Email is set up in a private chat: open @{html.escape(context.bot.username)} and send /email there."
        )
        return
    if not context.args:
        await message.reply_text(
            "Send your address after the command, e.g. <code>/email you@example.org</code>: I mail you a link to "
            "confirm it, and the weekly digest of your topics goes there from then on."
        )
        return
    if context.email_channel is None:
        await message.reply_text("Email is not available right now; please try again later.")
        return
    async with context.newsroom.engine.begin() as conn:
        subscriber_id = await chat_readers.open_chat(conn, str(chat.id), chat.type, context.newsroom.clock.now())
    sent = await request_email_confirmation(
        context.newsroom, context.email_channel, address=" ".join(context.args), subscriber_id=subscriber_id
    )
    await message.reply_text(
        f"📬 I sent a confirmation email to {html.escape(sent.address)}. Open the link in it and the weekly digest "
        "of your topics goes there (I will tell you here when it is confirmed); until then that address receives "
        "nothing else. Change how often with /settings."
    )


@in_chat
async def stop(update: Update, context: ChatContext, chat: Chat, message: Message) -> None:
    """Ask before erasing: the buttons under the question confirm or cancel."""
    if not await may_change_follows(update, context):
        await refuse(update)
        return
    async with context.newsroom.reader.connect() as conn:
        reader = await chat_readers.find_chat_reader(conn, str(chat.id))
    if reader is None:
        await message.reply_text("There is nothing to stop: this chat has no subscription. /start begins one.")
        return
    email = f", the email address {html.escape(reader.email)}" if reader.email else ""
    its = Voice.of(chat.type).its
    await message.reply_text(
        f"Stop everything? This erases {its} {topic_count(reader.topics)}{email} and {its} chat id from our "
        "records, and no more news comes here.",
        reply_markup=keyboards.stop_confirmation(),
    )


# --- buttons -----------------------------------------------------------------------------------------------


@chat_button(changes_follows=True)
async def toggle_topic(update: Update, context: ChatContext, query: CallbackQuery, chat: Chat, data: str) -> None:
    """A topic button: follow or unfollow it, redraw the same message with the new check marks, then confirm.

    Like every button handler here, it answers the callback query last, once everything else is done.
    """
    taxonomy = context.newsroom.taxonomy
    toggle = keyboards.parse_toggle(data)
    page = keyboards.clamp_page(taxonomy, toggle.page)
    if toggle.slug not in taxonomy:
        followed = await _followed(context, chat.id)
        await edit_in_place(
            query, picker_text(followed, Voice.of(chat.type)), keyboards.topic_picker(taxonomy, followed, page)
        )
        await query.answer("That topic no longer exists.")
        return
    now = context.newsroom.clock.now()
    async with context.newsroom.engine.begin() as conn:
        subscriber_id = await chat_readers.open_chat(conn, str(chat.id), chat.type, now)
        following = await follows.toggle_follow(conn, subscriber_id, toggle.slug, now)
        reader = await chat_readers.find_chat_reader(conn, str(chat.id))
    followed = reader.topics if reader else []
    name = taxonomy[toggle.slug].name
    await edit_in_place(
        query, picker_text(followed, Voice.of(chat.type)), keyboards.topic_picker(taxonomy, followed, page)
    )
    await query.answer(f"Following {name}" if following else f"Stopped following {name}")


@chat_button(changes_follows=False)
async def show_page(update: Update, context: ChatContext, query: CallbackQuery, chat: Chat, data: str) -> None:
    """The picker's ‹ Back and More › buttons."""
    followed = await _followed(context, chat.id)
    page = keyboards.clamp_page(context.newsroom.taxonomy, keyboards.parse_page(data))
    picker = keyboards.topic_picker(context.newsroom.taxonomy, followed, page)
    await edit_in_place(query, picker_text(followed, Voice.of(chat.type)), picker)
    await query.answer()


@chat_button(changes_follows=False)
async def close_picker(update: Update, context: ChatContext, query: CallbackQuery, chat: Chat, data: str) -> None:
    """The picker's Done button: replace the buttons with a summary of what is followed."""
    followed = await _followed(context, chat.id)
    taxonomy = context.newsroom.taxonomy
    voice = Voice.of(chat.type)
    if followed:
        chosen = names_of([taxonomy[s] for s in followed if s in taxonomy])
        text = f"Done. {voice.follows()} {chosen}. Change them any time with /topics; how often with /settings."
    else:
        text = f"{voice.follows()} no topic yet. Pick some any time with /topics."
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
    if not changed or reader is None or choice is None:
        await query.answer("That choice is no longer available; send /settings again.", show_alert=True)
        return
    channel = "Telegram" if choice.channel is ChannelName.TELEGRAM else "Email"
    await edit_in_place(
        query, settings_text(reader, context.newsroom.settings), keyboards.cadence_keyboard(reader.cadences)
    )
    await query.answer(f"{channel}: {keyboards.CADENCE_LABELS[choice.cadence].lower()}")


@chat_button(changes_follows=True)
async def confirm_stop(update: Update, context: ChatContext, query: CallbackQuery, chat: Chat, data: str) -> None:
    """The /stop buttons: erase the chat's reader (chat id, email, follows) or leave everything as it was."""
    voice = Voice.of(chat.type)
    if data.endswith(":no"):
        await edit_in_place(query, f"Nothing changed: {voice.keeps_its} topics. /mytopics shows them.", None)
        await query.answer()
        return
    async with context.newsroom.engine.begin() as conn:
        erased = await chat_readers.erase_chat_reader(conn, str(chat.id))
    if erased:
        logger.info("chat %s stopped; its reader's data was erased", chat.id)
    await edit_in_place(
        query,
        f"Done. No more news comes here, and {voice.its} chat id, topics and any email address are erased from our "
        "records. Send /start whenever you want to begin afresh.",
        None,
    )
    await query.answer("Erased")


# --- anything else -----------------------------------------------------------------------------------------


@in_chat
async def unknown_command(update: Update, context: ChatContext, chat: Chat, message: Message) -> None:
    """A command this bot does not have; in groups only when it is addressed to this bot by name."""
    if not message.text:
        return
    command = message.text.split(maxsplit=1)[0]
    if chat.type != ChatType.PRIVATE and f"@{context.bot.username}".casefold() not in command.casefold():
        return  # meant for another bot, or for the humans in the group
    await message.reply_text(
        f"I don't know {html.escape(short_echo(command))}. /help lists what I can do; /topics picks your news."
    )


async def report_error(update: object, context: ChatContext) -> None:
    """The edge where errors become replies: a reader's mistake is explained, anything else apologised for."""
    error = context.error
    if isinstance(error, NewsbotError):
        text = str(error)
        logger.info("answered with an error: %s", text)
    else:
        logger.error("handling an update failed", exc_info=error)
        text = "Sorry, something went wrong on our side. Please try again in a minute."
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(text[:200], show_alert=True)
        elif update.effective_message is not None:
            await update.effective_message.reply_text(html.escape(shorten(text)))
    except TelegramError as exc:  # blocked meanwhile, or the chat is gone: nothing more to say
        logger.info("could not report the error to chat %s: %s", update.effective_chat.id, exc)


# --- shared by the handlers above --------------------------------------------------------------------------


async def _may_change_topics(update: Update, context: ChatContext, usage: str) -> bool:
    """True when topics were named and the sender may change what the chat follows; else the chat was told why."""
    assert update.effective_message is not None
    if not context.args:
        await update.effective_message.reply_text(usage)
        return False
    if not await may_change_follows(update, context):
        await refuse(update)
        return False
    return True


async def _topics_named(message: Message, context: ChatContext, *, offer_buttons: bool = False) -> list[Topic] | None:
    """The topics the command's arguments name; None, once the chat was told which names are unknown (with a
    "Follow ..." button per suggested topic when *offer_buttons*)."""
    taxonomy = context.newsroom.taxonomy
    found, unknown = resolve_names(taxonomy, topic_names(taxonomy, context.args or ()))
    if unknown:
        buttons = keyboards.follow_buttons(taxonomy, suggested_slugs(unknown)) if offer_buttons else None
        await message.reply_text(f"{unknown_topics_text(taxonomy, unknown)} Nothing was changed.", reply_markup=buttons)
        return None
    return found


async def _followed(context: ChatContext, chat_id: int) -> list[str]:
    async with context.newsroom.reader.connect() as conn:
        reader = await chat_readers.find_chat_reader(conn, str(chat_id))
    return reader.topics if reader else []


async def edit_in_place(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Redraw the message the button belongs to; a second tap that changes nothing is not an error."""
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():
            raise
