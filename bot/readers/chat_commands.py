"""What readers can do in a chat with the bot: one small handler per command, named after it (the buttons are in
`bot.readers.chat_buttons`).

Replies are Telegram HTML, with everything that comes from outside (topic names, what the reader typed) escaped.
Changes are made in one transaction each and the reply says exactly what changed; a reader's mistake (an unknown
topic, a bad email address) is answered with what to do instead, and nothing is changed. Errors nobody in the chat
can fix are logged and answered with an apology by :func:`report_error`.

In groups and channels, changing what the chat follows is for its admins (`bot.readers.chat_membership`).
"""

from __future__ import annotations

import html
import logging

from telegram import BotCommand, Chat, Message, Update
from telegram.constants import ChatType
from telegram.error import TelegramError

from bot.app.errors import NewsbotError, TopicNotFound
from bot.languages.catalogs import N_, gettext_in, language_of
from bot.languages.reader_errors import error_text
from bot.readers import time_choice
from bot.readers import topic_keyboards as keyboards
from bot.readers.chat_context import ChatContext
from bot.readers.chat_follows import follow_in_chat, followed_topics
from bot.readers.chat_handlers import in_chat, reply_lines
from bot.readers.chat_language import settle_language
from bot.readers.chat_membership import ADMINS_ONLY, may_change_follows, refuse
from bot.readers.chat_replies import (
    MYTOPICS_BUDGET,
    MYTOPICS_ITEMS,
    Voice,
    delivery_text,
    followed_text,
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
from subscribers import chat_readers, follows

logger = logging.getLogger(__name__)

#: The menu: (command, arguments, what it does). /help prints it and setMyCommands registers it at start-up.
#: The commands of `PRIVATE_ONLY` are left out of both in groups and channels.
#: Descriptions are translated where shown; the arguments are words of the command, shown as they are.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("start", "", N_("Welcome, and pick topics")),
    ("topics", "", N_("Pick topics with buttons")),
    ("follow", "<topic>", N_("Follow topics by name, e.g. /follow north-korea")),
    ("unfollow", "<topic>|all", N_("Stop following topics")),
    ("mytopics", "", N_("What this chat follows, and how often")),
    ("settings", "", N_("How often: instant, weekly digest or off")),
    ("language", "", N_("The language I write to you in")),
    ("email", "<address>", N_("Get the weekly digest by email too")),
    ("stop", "", N_("Stop everything and erase your data")),
    ("help", "", N_("Every command")),
)
#: Commands that only make sense in a reader's own chat.
PRIVATE_ONLY = frozenset({"email"})


def bot_commands(*, private: bool = True, language: str = "en") -> list[BotCommand]:
    """The command menu Telegram shows next to the message field (in groups: without `PRIVATE_ONLY`)."""
    return [
        BotCommand(name, gettext_in(language, description))
        for name, _, description in COMMANDS
        if private or name not in PRIVATE_ONLY
    ]


# --- commands ----------------------------------------------------------------------------------------------


@in_chat
async def start(update: Update, context: ChatContext, chat: Chat, message: Message) -> None:
    """Welcome the reader and show the topic picker; a deep link (``?start=<topic>``) follows that topic at once."""
    newsroom = context.newsroom
    _ = context.gettext
    welcome = (
        "<b>"
        + _("Welcome to %(outlet)s on Telegram!") % {"outlet": html.escape(newsroom.settings.outlet_name)}
        + "</b>\n"
        + _("Follow the topics you care about and their stories come here as soon as they are published.")
    )
    voice = Voice.of(chat.type, context.language)
    payload = " ".join(context.args or ())
    if payload:
        if not await may_change_follows(update, context):
            await refuse(update, context)
            return
        try:
            topic = newsroom.taxonomy.resolve(payload)
        except TopicNotFound as unknown:
            await message.reply_text(
                f"{welcome}\n\n{unknown_topics_text(newsroom.taxonomy, [unknown], voice)}",
                reply_markup=keyboards.follow_buttons(newsroom.taxonomy, unknown.suggestions, voice)
                or keyboards.topic_picker(newsroom.taxonomy, await followed_topics(context, chat.id), voice),
            )
            return
        already, followed = await follow_in_chat(context, chat, [topic.slug])
        name = f"<b>{html.escape(topic.name)}</b>"
        if topic.slug in already:
            done = voice.pick(
                _("You already follow %(topics)s: nothing changed."),
                _("This chat already follows %(topics)s: nothing changed."),
                topics=name,
            )
        else:
            done = voice.now_follows(name)
        await message.reply_text(
            f"{welcome}\n\n{done}\n\n{picker_text(followed, voice)}",
            reply_markup=keyboards.topic_picker(
                newsroom.taxonomy, followed, voice, keyboards.page_of(newsroom.taxonomy, topic.slug)
            ),
        )
        return
    if chat.type == ChatType.PRIVATE:
        async with newsroom.engine.begin() as conn:
            await chat_readers.open_chat(
                conn, str(chat.id), chat.type, newsroom.clock.now(), language=context.first_language
            )
    followed = await followed_topics(context, chat.id)
    count = topic_count(followed, voice)
    back = voice.pick(
        _("Welcome back: you follow %(topics)s."), _("Welcome back: this chat follows %(topics)s."), topics=count
    )
    back = f"\n\n{back}" if followed else ""
    helps = _("/help lists everything I can do.")
    if not await may_change_follows(update, context):  # a group's member: nothing to tap
        await message.reply_text(
            f"{welcome}\n\n{followed_text(newsroom.taxonomy, followed, voice)} {_(ADMINS_ONLY)} {helps}"
        )
        return
    await message.reply_text(
        f"{welcome}{back}\n\n{picker_text(followed, voice)} {helps}",
        reply_markup=keyboards.topic_picker(newsroom.taxonomy, followed, voice),
    )


@in_chat
async def help_command(update: Update, context: ChatContext, chat: Chat, message: Message) -> None:
    """Every command, one line each; in a group or channel, only those that work there."""
    _ = context.gettext
    private = chat.type == ChatType.PRIVATE
    lines = [
        f"/{name}{' ' + html.escape(arguments) if arguments else ''} – {html.escape(_(description))}"
        for name, arguments, description in COMMANDS
        if private or name not in PRIVATE_ONLY
    ]
    outlet = html.escape(context.newsroom.settings.outlet_name)
    if private:
        note = _("In groups and channels only admins change topics.")
    else:
        note = _("Only this chat's admins change its topics. Email is set up in a private chat with @%(bot)s.") % {
            "bot": html.escape(context.bot.username)
        }
    title = _("%(outlet)s news bot") % {"outlet": outlet}
    await message.reply_text(f"<b>{title}</b>\n" + "\n".join(lines) + f"\n\n{note}")


@in_chat
async def topics(update: Update, context: ChatContext, chat: Chat, message: Message) -> None:
    """The topic picker: every topic as a button, a check mark on those followed; in a group, for its admins."""
    voice = Voice.of(chat.type, context.language)
    followed = await followed_topics(context, chat.id)
    if not await may_change_follows(update, context):  # a group's member would only be refused on every tap
        admins_only = context.gettext(ADMINS_ONLY)
        await message.reply_text(f"{followed_text(context.newsroom.taxonomy, followed, voice)} {admins_only}")
        return
    await message.reply_text(
        picker_text(followed, voice), reply_markup=keyboards.topic_picker(context.newsroom.taxonomy, followed, voice)
    )


@in_chat
async def follow(update: Update, context: ChatContext, chat: Chat, message: Message) -> None:
    """``/follow <topic>...``: follow topics by slug, name or alias; an unknown name changes nothing."""
    _ = context.gettext
    usage = _("Which topic? For example <code>/follow north-korea</code>, or pick from /topics.")
    if not await _may_change_topics(update, context, usage):
        return
    found = await _topics_named(message, context, offer_buttons=True)
    if found is None:
        return
    voice = Voice.of(chat.type, context.language)
    already, _followed = await follow_in_chat(context, chat, [topic.slug for topic in found])
    added = [topic for topic in found if topic.slug not in already]
    kept = [topic for topic in found if topic.slug in already]
    await reply_lines(
        message,
        added and voice.now_follows(names_of(added, voice)),
        kept and voice.already_follows(names_of(kept, voice)),
        _("See everything with /mytopics."),
    )


@in_chat
async def unfollow(update: Update, context: ChatContext, chat: Chat, message: Message) -> None:
    """``/unfollow <topic>...`` or ``/unfollow all``."""
    _ = context.gettext
    usage = _("Which topic? For example <code>/unfollow north-korea</code>, or <code>/unfollow all</code>.")
    if not await _may_change_topics(update, context, usage):
        return
    taxonomy = context.newsroom.taxonomy
    voice = Voice.of(chat.type, context.language)
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
        removed and voice.no_longer_follows(names_of(gone, voice)),
        not_followed and voice.was_not_following(names_of(not_followed, voice)),
        everything
        and not removed
        and voice.pick(_("You were not following any topic."), _("This chat was not following any topic.")),
        _("Pick topics again any time with /topics."),
    )


@in_chat
async def mytopics(update: Update, context: ChatContext, chat: Chat, message: Message) -> None:
    """What this chat follows, and how often it hears about them on each channel."""
    async with context.newsroom.reader.connect() as conn:
        reader = await chat_readers.find_chat_reader(conn, str(chat.id))
    _ = context.gettext
    voice = Voice.of(chat.type, context.language)
    if reader is None or not reader.topics:
        pick = _("Pick some with /topics.")
        await message.reply_text(f"{voice.follows_nothing()} {pick}")
        return
    taxonomy = context.newsroom.taxonomy
    names = [f"• {html.escape(taxonomy[s].name if s in taxonomy else s)}" for s in reader.topics]
    listed = "\n".join(summarise(names, most=MYTOPICS_ITEMS, budget=MYTOPICS_BUDGET))
    heading = voice.follows(topic_count(reader.topics, voice)).removesuffix(".")
    await message.reply_text(
        f"<b>{heading}</b>\n{listed}\n\n{delivery_text(reader, voice)}\n\n"
        + _("Change topics with /topics, how often with /settings.")
    )


@in_chat
async def settings(update: Update, context: ChatContext, chat: Chat, message: Message) -> None:
    """How often this chat hears from us on each channel, with buttons to change it (and one for the time zone and
    quiet hours); ``/settings <zone>`` sets the time zone, ``/settings quiet 23:00-06:30`` the quiet hours."""
    if context.args:
        if await may_change_follows(update, context):
            await time_choice.type_setting(context, chat, message, " ".join(context.args))
        else:
            await refuse(update, context)
        return
    async with context.newsroom.engine.begin() as conn:
        if chat.type == ChatType.PRIVATE:
            await chat_readers.open_chat(
                conn, str(chat.id), chat.type, context.newsroom.clock.now(), language=context.first_language
            )
        reader = await chat_readers.find_chat_reader(conn, str(chat.id))
    voice = Voice.of(chat.type, context.language)
    if reader is None:
        pick = context.gettext("Pick some with /topics first.")
        await message.reply_text(f"{voice.follows_nothing()} {pick}")
        return
    text = settings_text(reader, context.newsroom.settings, voice)
    if not await may_change_follows(update, context):  # a group's member: the buttons would only refuse
        await message.reply_text(f"{text}\n\n{context.gettext(ADMINS_ONLY)}")
        return
    await message.reply_text(text, reply_markup=keyboards.cadence_keyboard(reader.cadences, voice))


@in_chat
async def email(update: Update, context: ChatContext, chat: Chat, message: Message) -> None:
    """``/email <address>``: link an address for the weekly digest; it gets nothing until its owner confirms it."""
    _ = context.gettext
    if chat.type != ChatType.PRIVATE:
        await message.reply_text(
            _("Email is set up in a private chat: open @%(bot)s and send /email there.")
            % {"bot": html.escape(context.bot.username)}
        )
        return
    if not context.args:
        await message.reply_text(
            _(
                "Send your address after the command, e.g. <code>/email you@example.org</code>: I mail you a link "
                "to confirm it, and the weekly digest of your topics goes there from then on."
            )
        )
        return
    if context.email_channel is None:
        await message.reply_text(_("Email is not available right now; please try again later."))
        return
    async with context.newsroom.engine.begin() as conn:
        subscriber_id = await chat_readers.open_chat(
            conn, str(chat.id), chat.type, context.newsroom.clock.now(), language=context.first_language
        )
    sent = await request_email_confirmation(
        context.newsroom, context.email_channel, address=" ".join(context.args), subscriber_id=subscriber_id
    )
    await message.reply_text(
        "📬 "
        + _(
            "I sent a confirmation email to %(address)s. Open the link in it and the weekly digest of your topics "
            "goes there (I will tell you here when it is confirmed); until then that address receives nothing "
            "else. Change how often with /settings."
        )
        % {"address": html.escape(sent.address)}
    )


@in_chat
async def stop(update: Update, context: ChatContext, chat: Chat, message: Message) -> None:
    """Ask before erasing: the buttons under the question confirm or cancel."""
    if not await may_change_follows(update, context):
        await refuse(update, context)
        return
    async with context.newsroom.reader.connect() as conn:
        reader = await chat_readers.find_chat_reader(conn, str(chat.id))
    _ = context.gettext
    voice = Voice.of(chat.type, context.language)
    if reader is None:
        await message.reply_text(_("There is nothing to stop: this chat has no subscription. /start begins one."))
        return
    count = topic_count(reader.topics, voice)
    if reader.email:
        question = voice.pick(
            _(
                "Stop everything? This erases your %(topics)s, the email address %(address)s and your chat id from "
                "our records, and no more news comes here."
            ),
            _(
                "Stop everything? This erases this chat's %(topics)s, the email address %(address)s and this "
                "chat's chat id from our records, and no more news comes here."
            ),
            topics=count,
            address=html.escape(reader.email),
        )
    else:
        question = voice.pick(
            _(
                "Stop everything? This erases your %(topics)s and your chat id from our records, and no more news "
                "comes here."
            ),
            _(
                "Stop everything? This erases this chat's %(topics)s and this chat's chat id from our records, and "
                "no more news comes here."
            ),
            topics=count,
        )
    await message.reply_text(question, reply_markup=keyboards.stop_confirmation(voice))


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
        context.gettext("I don't know %(command)s. /help lists what I can do; /topics picks your news.")
        % {"command": html.escape(short_echo(command))}
    )


async def report_error(update: object, context: ChatContext) -> None:
    """The edge where errors become replies: a reader's mistake is explained, anything else apologised for."""
    error = context.error
    if not isinstance(error, NewsbotError):
        logger.error("handling an update failed", exc_info=error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    await _settle_language_for_error(update, context)
    if isinstance(error, NewsbotError):
        # The sentence is the error's template in the chat's language (a store refusal, a bad address ...); an
        # editor's error, which no catalog has, stays English.
        text = error_text(error, context.language)
        logger.info("answered with an error: %s", error)
    else:
        text = context.gettext("Sorry, something went wrong on our side. Please try again in a minute.")
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(text[:200], show_alert=True)
        elif update.effective_message is not None:
            await update.effective_message.reply_text(html.escape(shorten(text)))
    except TelegramError as exc:  # blocked meanwhile, or the chat is gone: nothing more to say
        logger.info("could not report the error to chat %s: %s", update.effective_chat.id, exc)


async def _settle_language_for_error(update: Update, context: ChatContext) -> None:
    """The error handler gets a context of its own: find the chat's language again (the outlet's, when the store
    that failed cannot say)."""
    try:
        await settle_language(update, context)
    except Exception:  # the error may be the store's own; an apology in the outlet's language is still owed
        logger.info("could not look up the language of chat %s", update.effective_chat and update.effective_chat.id)
        context.language = language_of(None, context.newsroom.settings.default_language)


# --- shared by the handlers above --------------------------------------------------------------------------


async def _may_change_topics(update: Update, context: ChatContext, usage: str) -> bool:
    """True when topics were named and the sender may change what the chat follows; else the chat was told why."""
    assert update.effective_message is not None
    if not context.args:
        await update.effective_message.reply_text(usage)
        return False
    if not await may_change_follows(update, context):
        await refuse(update, context)
        return False
    return True


async def _topics_named(message: Message, context: ChatContext, *, offer_buttons: bool = False) -> list[Topic] | None:
    """The topics the command's arguments name; None, once the chat was told which names are unknown (with a
    "Follow ..." button per suggested topic when *offer_buttons*)."""
    taxonomy = context.newsroom.taxonomy
    found, unknown = resolve_names(taxonomy, topic_names(taxonomy, context.args or ()))
    if unknown:
        voice = Voice.of(message.chat.type, context.language)
        buttons = keyboards.follow_buttons(taxonomy, suggested_slugs(unknown), voice) if offer_buttons else None
        unchanged = context.gettext("Nothing was changed.")
        text = f"{unknown_topics_text(taxonomy, unknown, voice)} {unchanged}"
        await message.reply_text(text, reply_markup=buttons)
        return None
    return found
