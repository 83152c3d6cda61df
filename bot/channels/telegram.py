"""Telegram delivery through python-telegram-bot, with PTB's error classes folded into the channel contract."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import warnings
from typing import TYPE_CHECKING, Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import ExtBot
from telegram.warnings import PTBUserWarning

from bot.channels import failures
from bot.channels.base import Keyboard, LinkPreview, OutgoingMessage, Receipt
from bot.channels.telegram_http import AiohttpRequest, httpx_request
from bot.channels.telegram_rate_limit import retry_after_seconds

if TYPE_CHECKING:
    from telegram.ext import BaseRateLimiter

    from bot.app.config import Settings

#: The longest caption Telegram accepts under a photo (a text message may have 4096).
CAPTION_MAX_LENGTH = 1024
#: What editMessageText answers for a photo's message: its caption is edited instead.
_NO_TEXT = "there is no text in the message to edit"

#: BadRequest descriptions that mean the chat itself is unreachable, not that this message is wrong.
_GONE_MARKERS = ("chat not found", "user is deactivated", "peer_id_invalid")

# `TelegramChannel.send` calls sendMessage and sendPhoto through `do_api_request` on purpose (see there); PTB would
# warn each time.
warnings.filterwarnings(
    "ignore", message=r"Please use 'Bot\.send(Message|Photo)' instead of 'Bot\.do_api_request", category=PTBUserWarning
)


class TelegramChannel:
    """Sends HTML messages with a `telegram.Bot`, initialising it lazily on the first send.

    `owns_bot=False` is for a bot shared with the chat front end: the channel then never shuts it down.
    `paid_broadcast` sends with ``allow_paid_broadcast``: Telegram then accepts up to 1000 messages a second
    and bills Stars for those above the free 30.
    """

    name = "telegram"

    def __init__(
        self, bot: Bot, *, owns_bot: bool = True, link_previews: bool = True, paid_broadcast: bool = False
    ) -> None:
        self.bot = bot
        self.owns_bot = owns_bot
        self.paid_broadcast = paid_broadcast
        self.description = f"telegram: Bot API at {_api_root(bot)}" + (" (paid broadcast)" if paid_broadcast else "")
        self._link_previews = None if link_previews else LinkPreviewOptions(is_disabled=True)
        self._initialized = False
        self._init_lock = asyncio.Lock()

    @property
    def rate_limiter(self) -> BaseRateLimiter[Any] | None:
        """The limiter holding sends back (None without one); delivery workers split its rate between them."""
        return getattr(self.bot, "rate_limiter", None)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        connections: int | None = None,
        rate_limiter: BaseRateLimiter[Any] | None = None,
    ) -> TelegramChannel:
        """Build the bot from settings; `connections` defaults to what the worker keeps in flight at the rate.

        An `ExtBot` is used so that a rate limiter can be passed in: `build_channels` passes
        `TelegramRateLimiter.from_settings(settings)`; without one nothing holds sends back. Requests go
        through aiohttp (`AiohttpRequest`), a third of httpx's CPU per request.
        """
        if connections is None:
            connections = settings.sends_in_flight
        # Waiting for a free connection is not a failure; the read timeout still bounds each call.
        request = AiohttpRequest(connections, pool_timeout=30.0)
        bot: Bot = ExtBot(
            settings.telegram_token,
            base_url=f"{settings.telegram_api_url}/bot",
            request=request,
            get_updates_request=httpx_request(),  # never used by a channel; PTB builds one anyway
            rate_limiter=rate_limiter,
        )
        return cls(bot, paid_broadcast=settings.telegram_paid_broadcast)

    async def send(self, message: OutgoingMessage) -> Receipt:
        if not isinstance(message.content, str):
            raise failures.PermanentFailure("telegram content must be HTML text, not bytes")
        chat_id = _chat_id(message.address)
        try:
            await self._ensure_initialized()
            if message.action == "edit":
                return await self._edit(chat_id, message)
            if message.action == "delete":
                return await self._delete(chat_id, message)
            method, params = self._send_params(chat_id, message)
            if self.paid_broadcast:
                params["allow_paid_broadcast"] = True
            if message.reply_to is not None:
                # Without its original (the reader deleted it) the reply still goes out, as a plain message.
                params["reply_parameters"] = {
                    "message_id": _message_id(message.reply_to),
                    "allow_sending_without_reply": True,
                }
            # The raw answer, not a `Message`: building PTB's object tree costs more CPU than the request itself,
            # and only the message id is kept. Errors, rate limiting and retries are PTB's as usual.
            sent = await self.bot.do_api_request(method, api_kwargs=params)
        except TelegramError as exc:
            raise translate_error(exc) from exc
        return Receipt(provider_id=str(sent["message_id"]))

    def _send_params(self, chat_id: int | str, message: OutgoingMessage) -> tuple[str, dict[str, Any]]:
        """sendMessage, or sendPhoto with the content as caption; the buttons, preview and silence as asked."""
        assert isinstance(message.content, str)
        params: dict[str, Any] = {"chat_id": chat_id, "parse_mode": ParseMode.HTML}
        if message.photo is not None:
            method = "sendPhoto"
            params.update(photo=message.photo, caption=message.content)
        else:
            method = "sendMessage"
            params["text"] = message.content
            preview = self._preview_options(message.link_preview)
            if preview is not None:
                params["link_preview_options"] = preview
        if message.keyboard:
            params["reply_markup"] = reply_markup(message.keyboard)
        if message.silent:
            params["disable_notification"] = True
        return method, params

    def _preview_options(self, preview: LinkPreview | None) -> LinkPreviewOptions | None:
        """The message's own choice of preview, else the channel's default (None: Telegram's)."""
        if preview is None:
            return self._link_previews
        if preview.url is None or self._link_previews is not None:  # previews switched off for the channel
            return LinkPreviewOptions(is_disabled=True)
        return LinkPreviewOptions(url=preview.url, prefer_large_media=True, show_above_text=False)

    async def _edit(self, chat_id: int | str, message: OutgoingMessage) -> Receipt:
        """editMessageText on the reader's copy (editMessageCaption for a photo's), with its buttons: an edit without
        them would take them away. "Not modified" means it already reads so: a success."""
        assert isinstance(message.content, str) and message.target is not None
        target = _message_id(message.target)
        keyboard = inline_keyboard(message.keyboard) if message.keyboard else None
        try:
            if message.photo is None:
                try:
                    await self.bot.edit_message_text(
                        message.content,
                        chat_id=chat_id,
                        message_id=target,
                        parse_mode=ParseMode.HTML,
                        link_preview_options=self._preview_options(message.link_preview),
                        reply_markup=keyboard,
                    )
                    return Receipt(provider_id=message.target)
                except BadRequest as exc:
                    if _NO_TEXT not in exc.message.lower():
                        raise
            # A photo's caption (also a text edit that found a photo, such as a withdrawal notice).
            await self.bot.edit_message_caption(
                chat_id=chat_id,
                message_id=target,
                caption=message.content,
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard,
            )
        except BadRequest as exc:
            if "message is not modified" not in exc.message.lower():
                raise
        return Receipt(provider_id=message.target)

    async def _delete(self, chat_id: int | str, message: OutgoingMessage) -> Receipt:
        """deleteMessage; a message Telegram no longer lets the bot delete (older than 48 hours) gets the text
        in `content` instead, and one already gone counts as deleted."""
        assert isinstance(message.content, str) and message.target is not None
        try:
            await self.bot.delete_message(chat_id, _message_id(message.target))
        except BadRequest as exc:
            lowered = exc.message.lower()
            if "message to delete not found" in lowered:
                return Receipt(provider_id=message.target)
            if "can't be deleted" not in lowered or not message.content:
                raise
            return await self._edit(chat_id, dataclasses.replace(message, action="edit"))
        return Receipt(provider_id=message.target)

    async def aclose(self) -> None:
        if self.owns_bot:
            await self.bot.shutdown()  # a no-op if the bot never got initialised
        self._initialized = False

    async def _ensure_initialized(self) -> None:
        # Bot.initialize() calls getMe once (and validates the token); the lock keeps a burst of
        # first sends from each calling it.
        if self._initialized:
            return
        async with self._init_lock:
            if not self._initialized:
                await self.bot.initialize()
                self._initialized = True


def inline_keyboard(keyboard: Keyboard) -> InlineKeyboardMarkup:
    """The channel contract's buttons as a Telegram inline keyboard."""
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(button.text, url=button.url, callback_data=button.callback) for button in row]
            for row in keyboard
        ]
    )


@functools.lru_cache(maxsize=256)
def reply_markup(keyboard: Keyboard) -> dict[str, Any]:
    """The buttons as the Bot API's ``reply_markup`` object, built once per keyboard and shared by every send with
    it (nothing changes it): a fan-out's messages carry a few keyboards between them, and PTB built an
    `InlineKeyboardMarkup` of button objects for each message only to turn it back into this dict."""
    return inline_keyboard(keyboard).to_dict()


def translate_error(exc: TelegramError) -> failures.DeliveryFailed:
    """Map a python-telegram-bot error onto the channel contract.

    Order matters: PTB's `BadRequest` and `TimedOut` are subclasses of `NetworkError`. PTB also strips a
    leading "Bad Request: " from descriptions and capitalises the rest, so matching is case-insensitive.
    A network error, a timeout waiting for the API, a 5xx (PTB raises `NetworkError` for those) or a rejected token
    is about the Bot API, not this message: `ChannelUnreachable`, so the worker pauses Telegram and probes it.
    """
    if isinstance(exc, RetryAfter):
        seconds = retry_after_seconds(exc)
        return failures.TemporaryFailure(f"telegram 429: retry after {seconds:g}s", retry_after=seconds)
    if isinstance(exc, ChatMigrated):
        new_address = str(exc.new_chat_id)
        return failures.RecipientMoved(f"telegram: chat migrated to {new_address}", new_address=new_address)
    if isinstance(exc, Forbidden):
        return failures.RecipientGone(f"telegram 403: {exc.message}")
    if isinstance(exc, BadRequest):
        lowered = exc.message.lower()
        if any(marker in lowered for marker in _GONE_MARKERS):
            return failures.RecipientGone(f"telegram 400: {exc.message}")
        return failures.PermanentFailure(f"telegram 400: {exc.message}")
    if isinstance(exc, TimedOut):
        if "pool timeout" in exc.message.lower():  # our own pool was busy: nothing says the API is down
            return failures.TemporaryFailure("timeout: connection pool exhausted")
        return failures.ChannelUnreachable("timeout")
    if isinstance(exc, InvalidToken):
        # Every message would fail the same way; the paused channel keeps them until the token is fixed.
        return failures.ChannelUnreachable(f"telegram 401: {exc.message} (check NEWSBOT_TELEGRAM_TOKEN)")
    if isinstance(exc, NetworkError):
        return failures.ChannelUnreachable(f"telegram network error: {exc.message}")
    return failures.TemporaryFailure(f"telegram error: {exc.message}")


def _chat_id(address: str) -> int | str:
    if address.startswith("@") and len(address) > 1:
        return address  # public channel username
    try:
        return int(address)
    except ValueError:
        raise failures.RecipientGone(f"telegram: {address!r} is not a chat id") from None


def _message_id(provider_id: str) -> int:
    try:
        return int(provider_id)
    except ValueError:
        raise failures.PermanentFailure(f"telegram: {provider_id!r} is not a message id") from None


def _api_root(bot: Bot) -> str:
    # bot.base_url embeds the token; never let it reach a log line.
    root = bot.base_url.replace(bot.token, "")
    return root.removesuffix("/bot") or root
