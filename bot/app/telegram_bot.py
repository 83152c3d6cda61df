"""The Telegram front end: a python-telegram-bot Application built from a Newsroom, and its handler table.

`handler_table` is the bot's menu in one place: every command and button, then whatever other modules add
(editor commands), then the fallbacks that make sure no message goes unanswered. `bot.app.process` runs the
Application inside its own event loop, with long polling or a webhook, next to the web app and delivery worker.

Updates are processed concurrently, but those of one chat in the order they arrived (`PerChatUpdateProcessor`),
so two quick taps on the topic picker are applied one after the other.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Iterable
from typing import Any

from telegram import BotCommandScopeAllGroupChats, BotCommandScopeDefault, Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseHandler,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    filters,
)

from bot.app.errors import ConfigurationError
from bot.app.newsroom import Newsroom
from bot.app.telegram_updates import ScreeningRequest
from bot.channels import Channel
from bot.channels.telegram_http import httpx_request
from bot.editors.audit import telegram_editor_ids
from bot.editors.chat_commands import editor_handlers
from bot.editors.command_menu import editor_menu, sync_editor_menus
from bot.languages.catalogs import languages
from bot.readers import (
    chat_buttons,
    chat_membership,
    language_choice,
    story_buttons,
    story_language_choice,
    time_choice,
    topic_suggestions,
)
from bot.readers import chat_commands as reader_commands
from bot.readers import topic_keyboards as keyboards
from bot.readers.chat_context import EMAIL_CHANNEL, NEWSROOM, ChatContext

#: What the bot asks Telegram for, in polling and webhook mode alike; my_chat_member is how blocks are seen.
ALLOWED_UPDATES = [Update.MESSAGE, Update.CHANNEL_POST, Update.CALLBACK_QUERY, Update.MY_CHAT_MEMBER]
#: New messages and channel posts; an edited command is not run again.
NEW_POSTS = filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST
#: Updates handled at the same time (different chats); a chat's own updates wait for each other.
CONCURRENT_UPDATES = 64
#: How often the bot gives new Telegram editors (desk accounts linked in any process) their command menu.
EDITOR_MENU_SECONDS = 60
#: In ``bot_data``: the chats that have the editor menu.
EDITOR_MENUS = "editor_menus"
NewsbotApplication = Application[Any, ChatContext, dict[Any, Any], dict[Any, Any], dict[Any, Any], Any]


def reader_handlers() -> list[BaseHandler[Any, ChatContext, Any]]:
    """Readers' commands and buttons, and the bot's own membership changes."""
    return [
        CommandHandler("start", reader_commands.start, filters=NEW_POSTS),
        CommandHandler("help", reader_commands.help_command, filters=NEW_POSTS),
        CommandHandler("topics", reader_commands.topics, filters=NEW_POSTS),
        CommandHandler("follow", reader_commands.follow, filters=NEW_POSTS),
        CommandHandler("unfollow", reader_commands.unfollow, filters=NEW_POSTS),
        CommandHandler("mytopics", reader_commands.mytopics, filters=NEW_POSTS),
        CommandHandler("settings", reader_commands.settings, filters=NEW_POSTS),
        CommandHandler("email", reader_commands.email, filters=NEW_POSTS),
        CommandHandler("stop", reader_commands.stop, filters=NEW_POSTS),
        CommandHandler("language", language_choice.language, filters=NEW_POSTS),
        CallbackQueryHandler(chat_buttons.toggle_topic, pattern=keyboards.TOGGLE_PATTERN),
        CallbackQueryHandler(chat_buttons.show_page, pattern=keyboards.PAGE_PATTERN),
        CallbackQueryHandler(chat_buttons.close_picker, pattern=keyboards.DONE_PATTERN),
        CallbackQueryHandler(chat_buttons.ignore_button, pattern=keyboards.NOOP_PATTERN),
        CallbackQueryHandler(chat_buttons.choose_cadence, pattern=keyboards.CADENCE_PATTERN),
        CallbackQueryHandler(chat_buttons.confirm_stop, pattern=keyboards.STOP_PATTERN),
        CallbackQueryHandler(topic_suggestions.follow_suggested, pattern=keyboards.FOLLOW_PATTERN),
        CallbackQueryHandler(language_choice.choose_language, pattern=keyboards.LANGUAGE_PATTERN),
        CallbackQueryHandler(time_choice.open_panel, pattern=time_choice.OPEN_PATTERN),
        CallbackQueryHandler(story_language_choice.open_panel, pattern=story_language_choice.OPEN_PATTERN),
        CallbackQueryHandler(story_language_choice.choose_language, pattern=story_language_choice.TOGGLE_PATTERN),
        *(
            CallbackQueryHandler(time_choice.choose_time, pattern=pattern)
            for pattern in (time_choice.ZONE_PATTERN, time_choice.QUIET_PATTERN, time_choice.BREAKING_PATTERN)
        ),
        CallbackQueryHandler(story_buttons.unfollow_topic, pattern=story_buttons.UNFOLLOW_PATTERN),
        CallbackQueryHandler(story_buttons.open_settings, pattern=story_buttons.SETTINGS_PATTERN),
        ChatMemberHandler(chat_membership.bot_membership_changed, ChatMemberHandler.MY_CHAT_MEMBER),
        MessageHandler(filters.StatusUpdate.MIGRATE, chat_membership.chat_migrated),
    ]


def fallback_handlers() -> list[BaseHandler[Any, ChatContext, Any]]:
    """Last in the table: unknown commands, free text, and buttons of keyboards from an older version."""
    return [
        MessageHandler(filters.COMMAND & NEW_POSTS, reader_commands.unknown_command),
        MessageHandler(filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE, topic_suggestions.free_text),
        CallbackQueryHandler(chat_buttons.ignore_button),
    ]


def handler_table(
    extra: Iterable[BaseHandler[Any, ChatContext, Any]] = (),
) -> list[BaseHandler[Any, ChatContext, Any]]:
    """The whole menu, in the order handlers are tried; *extra* (e.g. editor commands) goes before the fallbacks."""
    return [*reader_handlers(), *extra, *fallback_handlers()]


def build_application(
    newsroom: Newsroom,
    *,
    email_channel: Channel | None = None,
    polling: bool = True,
    extra_handlers: Iterable[BaseHandler[Any, ChatContext, Any]] = (),
) -> NewsbotApplication:
    """The Application for *newsroom*: its bot talks to ``NEWSBOT_TELEGRAM_API_URL``; it has a JobQueue.

    *polling* gives it an Updater for getUpdates; in webhook mode updates arrive through the web app instead.
    It needs ``NEWSBOT_TELEGRAM_TOKEN``: without a bot, ``newsbot run`` schedules the digest without an Application.
    """
    settings = newsroom.settings
    if not settings.telegram_token:
        raise ConfigurationError("NEWSBOT_TELEGRAM_TOKEN is not set: there is no bot to build")
    keyboards.check_callback_data_fits(newsroom.taxonomy)
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_token)
        .base_url(f"{settings.telegram_api_url}/bot")
        .base_file_url(f"{settings.telegram_api_url}/file/bot")
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .context_types(ContextTypes(context=ChatContext))
        .concurrent_updates(PerChatUpdateProcessor(CONCURRENT_UPDATES))
    )
    # PTB's own request settings (256 connections for the bot's calls), on the process's one TLS context.
    builder = builder.request(httpx_request(connection_pool_size=256))
    if not polling:
        builder = builder.updater(None).get_updates_request(httpx_request())
    else:  # an update PTB cannot parse is skipped instead of fetched again and again
        builder = builder.get_updates_request(httpx_request(ScreeningRequest))
    application: NewsbotApplication = builder.build()
    application.bot_data[NEWSROOM] = newsroom
    application.bot_data[EMAIL_CHANNEL] = email_channel
    application.add_handlers(handler_table([*editor_handlers(newsroom), *extra_handlers]))
    application.add_error_handler(reader_commands.report_error)
    return application


async def register_commands(application: NewsbotApplication) -> None:
    """Publish the command menus (setMyCommands): the readers' for everyone, and each editor's own in their chat."""
    newsroom: Newsroom = application.bot_data[NEWSROOM]
    bot, default, groups = application.bot, newsroom.settings.default_language, BotCommandScopeAllGroupChats()
    await bot.set_my_commands(reader_commands.bot_commands(language=default))
    # Groups get the menu without the commands that only work in a private chat (/email).
    await bot.set_my_commands(reader_commands.bot_commands(private=False, language=default), scope=groups)
    # A user whose app is in one of newsbot's languages is shown that language's menu: independent calls, at once.
    await asyncio.gather(
        *(
            bot.set_my_commands(
                reader_commands.bot_commands(private=private, language=language), scope=scope, language_code=language
            )
            for language in languages()
            for private, scope in ((True, BotCommandScopeDefault()), (False, groups))
        )
    )
    await refresh_editor_menus(application)


async def refresh_editor_menus(application: NewsbotApplication) -> None:
    """The editor menu in every Telegram editor's chat now, taken back from former editors.

    Run at start and every :data:`EDITOR_MENU_SECONDS` (:func:`bot.app.process.schedule_jobs`), so a desk account
    linked or removed by any process gets or loses its menu without a restart; only the difference is sent.
    """
    newsroom: Newsroom = application.bot_data[NEWSROOM]
    handlers = [handler for group in application.handlers.values() for handler in group]
    menu = editor_menu(handlers, reader_commands.bot_commands())
    registered: set[int] = application.bot_data.setdefault(EDITOR_MENUS, set())
    await sync_editor_menus(application.bot, await telegram_editor_ids(newsroom), menu, registered)


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Different chats concurrently, one chat's updates in order (updates without a chat run at once)."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._holders: Counter[int] = Counter()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        self._holders[chat.id] += 1
        try:
            async with lock:
                await coroutine
        finally:
            self._holders[chat.id] -= 1
            if not self._holders[chat.id]:
                del self._holders[chat.id], self._locks[chat.id]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""
