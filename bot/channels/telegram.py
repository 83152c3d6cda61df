"""Telegram delivery through python-telegram-bot, with PTB's error classes folded into the channel contract."""

from __future__ import annotations

import asyncio
import datetime as dt
import warnings
from typing import TYPE_CHECKING, Any

import httpx
from telegram import Bot, LinkPreviewOptions
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
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.channels.base import (
    DeliveryFailed,
    OutgoingMessage,
    PermanentFailure,
    Receipt,
    RecipientGone,
    RecipientMoved,
    TemporaryFailure,
)

if TYPE_CHECKING:
    from telegram.ext import BaseRateLimiter

    from bot.config import Settings

#: BadRequest descriptions that mean the chat itself is unreachable, not that this message is wrong.
_GONE_MARKERS = ("chat not found", "user is deactivated", "peer_id_invalid")


class TelegramChannel:
    """Sends HTML messages with a `telegram.Bot`, initialising it lazily on the first send.

    `owns_bot=False` is for a bot shared with the chat front end: the channel then never shuts it down.
    """

    name = "telegram"

    def __init__(self, bot: Bot, *, owns_bot: bool = True, link_previews: bool = True) -> None:
        self.bot = bot
        self.owns_bot = owns_bot
        self.description = f"telegram: Bot API at {_api_root(bot)}"
        self._link_previews = None if link_previews else LinkPreviewOptions(is_disabled=True)
        self._initialized = False
        self._init_lock = asyncio.Lock()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        connections: int = 32,
        rate_limiter: BaseRateLimiter[Any] | None = None,
    ) -> TelegramChannel:
        """Build the bot from settings; `connections` should match the worker's send concurrency.

        An `ExtBot` is used so that a PTB rate limiter (e.g. `AIORateLimiter()`) can be passed in.
        Every pooled connection is also kept alive: HTTPXRequest only sets httpx's `max_connections`,
        and httpx's default of 20 keep-alive connections would otherwise re-handshake the rest.
        """
        request = HTTPXRequest(
            connection_pool_size=connections,
            # Waiting for a free connection is not a failure; the read timeout still bounds each call.
            pool_timeout=30.0,
            httpx_kwargs={"limits": httpx.Limits(max_connections=connections, max_keepalive_connections=connections)},
        )
        bot: Bot = ExtBot(
            settings.telegram_token,
            base_url=f"{settings.telegram_api_url}/bot",
            request=request,
            rate_limiter=rate_limiter,
        )
        return cls(bot)

    async def send(self, message: OutgoingMessage) -> Receipt:
        if not isinstance(message.content, str):
            raise PermanentFailure("telegram content must be HTML text, not bytes")
        chat_id = _chat_id(message.address)
        try:
            await self._ensure_initialized()
            sent = await self.bot.send_message(
                chat_id=chat_id,
                text=message.content,
                parse_mode=ParseMode.HTML,
                link_preview_options=self._link_previews,
            )
        except TelegramError as exc:
            raise translate_error(exc) from exc
        return Receipt(provider_id=str(sent.message_id))

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


def translate_error(exc: TelegramError) -> DeliveryFailed:
    """Map a python-telegram-bot error onto the channel contract.

    Order matters: PTB's `BadRequest` and `TimedOut` are subclasses of `NetworkError`. PTB also strips a
    leading "Bad Request: " from descriptions and capitalises the rest, so matching is case-insensitive.
    """
    if isinstance(exc, RetryAfter):
        seconds = _retry_after_seconds(exc)
        return TemporaryFailure(f"telegram 429: retry after {seconds:g}s", retry_after=seconds)
    if isinstance(exc, ChatMigrated):
        new_address = str(exc.new_chat_id)
        return RecipientMoved(f"telegram: chat migrated to {new_address}", new_address=new_address)
    if isinstance(exc, Forbidden):
        return RecipientGone(f"telegram 403: {exc.message}")
    if isinstance(exc, BadRequest):
        lowered = exc.message.lower()
        if any(marker in lowered for marker in _GONE_MARKERS):
            return RecipientGone(f"telegram 400: {exc.message}")
        return PermanentFailure(f"telegram 400: {exc.message}")
    if isinstance(exc, TimedOut):
        pool = "pool timeout" in exc.message.lower()
        return TemporaryFailure("timeout: connection pool exhausted" if pool else "timeout")
    if isinstance(exc, InvalidToken):
        # Every message would fail the same way; retrying keeps them until the token is fixed.
        return TemporaryFailure(f"telegram 401: {exc.message} (check NEWSBOT_TELEGRAM_TOKEN)")
    if isinstance(exc, NetworkError):
        return TemporaryFailure(f"telegram network error: {exc.message}")
    return TemporaryFailure(f"telegram error: {exc.message}")


def _retry_after_seconds(exc: RetryAfter) -> float:
    # PTB 22 warns on reading `retry_after` as an int unless PTB_TIMEDELTA is set; accept both forms.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def _chat_id(address: str) -> int | str:
    if address.startswith("@") and len(address) > 1:
        return address  # public channel username
    try:
        return int(address)
    except ValueError:
        raise RecipientGone(f"telegram: {address!r} is not a chat id") from None


def _api_root(bot: Bot) -> str:
    # bot.base_url embeds the token; never let it reach a log line.
    root = bot.base_url.replace(bot.token, "")
    return root.removesuffix("/bot") or root
