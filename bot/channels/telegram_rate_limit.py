"""Telegram's flood limits, kept on the client so that a broadcast never makes the Bot API answer 429.

Telegram allows a bot about 30 messages a second overall (1000 with ``allow_paid_broadcast``), one message a
second in a private chat and 20 a minute in a group or channel. `TelegramRateLimiter` is a PTB
`BaseRateLimiter`, plugged into `ExtBot` like PTB's own `AIORateLimiter`, which falls short for a broadcast:

- its leaky bucket lets a full second's worth of messages through at once on top of the steady rate, so a
  server counting over a sliding second sees up to twice the limit;
- it has no limit per private chat;
- a 429 holds back other requests only while it retries the failed one, and then 0.1 s longer than asked.

Here every limit is a sliding window that also allows for network delay (see `SlidingWindow`), sends are paced
evenly rather than released in bursts, and a 429 pauses every request for exactly the ``retry_after`` Telegram
asked for; the failed request is raised to the caller, which schedules it again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

if TYPE_CHECKING:
    from bot.app.config import Settings

Clock = Callable[[], float]
#: How a limiter waits: `asyncio.sleep`, or in tests a fake that moves the fake clock instead.
Sleep = Callable[[float], Awaitable[None]]


class SendWithdrawn(Exception):
    """The sender withdrew the request while it waited for its turn (:data:`still_wanted` said no): not sent."""


#: Set by whoever sends a message (the delivery worker, per send): awaited once the request's turn has come, right
#: before it goes out, since a request can wait here for seconds at the overall rate. False withdraws it
#: (:class:`SendWithdrawn`), e.g. because an editor stopped its story meanwhile.
still_wanted: ContextVar[Callable[[], Awaitable[bool]] | None] = ContextVar("still_wanted", default=None)
#: Telegram: one message per second in a private chat, 20 per minute in a group or channel.
PRIVATE_CHAT_LIMIT = (1, 1.0)
GROUP_CHAT_LIMIT = (20, 60.0)
#: Per-chat windows kept before idle ones are swept away (a fan-out touches each chat once).
_SWEEP_ABOVE = 1024
#: How far behind its pace the limiter may catch up in a burst (the window still bounds every second).
_CATCH_UP = 0.05


class SlidingWindow:
    """At most `limit` requests in any `period` seconds, as the server counts them, whatever the network delay.

    A request holds its slot from the moment it starts until `period` seconds after its answer arrives. The
    server accepted it somewhere in between, so a request started after that is more than `period` later on the
    server's clock too. The cost is one round trip per window: `limit` / (`period` + latency) requests a second.
    """

    __slots__ = ("_expiries", "_freed", "in_flight", "limit", "period")

    def __init__(self, limit: int, period: float) -> None:
        if limit < 1 or period <= 0:
            raise ValueError("a window needs a limit of at least 1 and a positive period")
        self.limit = limit
        self.period = period
        self.in_flight = 0
        self._expiries: deque[float] = deque()  # when finished requests stop counting, in order
        self._freed = asyncio.Event()

    @classmethod
    def per_second(cls, rate: float) -> SlidingWindow:
        """A window for a rate such as 30/s, or 0.5/s (one request per two seconds)."""
        limit = max(1, int(rate))
        return cls(limit, limit / rate)

    def retune(self, rate: float) -> None:
        """Change the rate in place; requests in flight and recent ones keep counting."""
        self.limit = max(1, int(rate))
        self.period = self.limit / rate

    def delay(self, now: float) -> float | None:
        """0 when a request may start now, else seconds until a slot frees; None: wait for an answer first."""
        expiries = self._expiries
        while expiries and expiries[0] <= now:
            expiries.popleft()
        if self.in_flight + len(expiries) < self.limit:
            return 0.0
        return expiries[0] - now if expiries else None

    async def acquire(
        self, clock: Clock, paused_until: Callable[[], float] | None = None, sleep: Sleep = asyncio.sleep
    ) -> None:
        """Wait for a slot (and, if given, for a pause to end), then take it."""
        while True:
            now = clock()
            pause = paused_until() - now if paused_until is not None else 0.0
            wait = pause if pause > 0 else self.delay(now)
            if wait == 0:
                self.in_flight += 1
                return
            if wait is None:
                freed = self._freed
                await freed.wait()
            else:
                await sleep(wait)

    def release(self, now: float) -> None:
        """The request's answer arrived at *now*: its slot frees `period` seconds later."""
        self.in_flight -= 1
        self._expiries.append(now + self.period)
        self._freed.set()
        self._freed = asyncio.Event()

    def idle(self, now: float) -> bool:
        """Nothing in flight and nothing still counting: forgetting this window changes nothing."""
        self.delay(now)  # drops what has expired
        return self.in_flight == 0 and not self._expiries


class TelegramRateLimiter(BaseRateLimiter[None]):
    """Overall, per-private-chat and per-group limits for every request that addresses a chat.

    Requests wait for their chat's window first, then queue in order for the overall one, so one busy chat
    never holds up the others. Reads (``get*`` methods) and requests without a ``chat_id`` are not limited.
    """

    def __init__(
        self,
        messages_per_second: float = 30.0,
        *,
        private_chat: tuple[int, float] = PRIVATE_CHAT_LIMIT,
        group_chat: tuple[int, float] = GROUP_CHAT_LIMIT,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.messages_per_second = messages_per_second
        self.overall = SlidingWindow.per_second(messages_per_second)
        # Sends are also spaced evenly (1/rate apart, catching up at most `_CATCH_UP` seconds when late): without
        # pacing the window opens a second's worth at once, the burst queues up in the client and in the server,
        # and every slot is then held that much longer.
        self._spacing = 1.0 / messages_per_second
        self._next_start = 0.0
        self._private_chat = private_chat
        self._group_chat = group_chat
        self._clock = clock
        self._sleep = sleep
        self._chats: dict[int | str, SlidingWindow] = {}
        self._next_sweep = 0.0
        self._turn = asyncio.Lock()  # FIFO: the overall window serves requests in arrival order
        self.paused_until = 0.0
        #: How many 429s paused sending (for logs and tests).
        self.pauses = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> TelegramRateLimiter:
        return cls(settings.telegram_messages_per_second)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat_id = data.get("chat_id")
        if chat_id is None or endpoint.startswith("get"):
            return await callback(*args, **kwargs)
        chat = self._chat_window(_chat_key(chat_id))
        await chat.acquire(self._clock, sleep=self._sleep)
        try:
            async with self._turn:
                await self.overall.acquire(self._clock, lambda: max(self.paused_until, self._next_start), self._sleep)
                self._next_start = max(self._next_start, self._clock() - _CATCH_UP) + self._spacing
            try:
                wanted = still_wanted.get()
                if wanted is not None and not await wanted():
                    raise SendWithdrawn(f"{endpoint} withdrawn before it was sent")
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                self.pause(retry_after_seconds(exc))
                raise
            finally:
                self.overall.release(self._clock())
        finally:
            chat.release(self._clock())

    def share(self, workers: int) -> None:
        """Use 1/*workers* of the configured rate, so that workers sending together keep to Telegram's limit.

        Each delivery worker learns how many workers are alive from the registry at every heartbeat.
        """
        rate = self.messages_per_second / max(1, workers)
        self.overall.retune(rate)
        self._spacing = 1.0 / rate

    def pause(self, seconds: float) -> None:
        """Hold back every request for *seconds* from now (Telegram's ``retry_after``)."""
        self.pauses += 1
        self.paused_until = max(self.paused_until, self._clock() + seconds)

    def _chat_window(self, key: int | str) -> SlidingWindow:
        window = self._chats.get(key)
        if window is None:
            if len(self._chats) > _SWEEP_ABOVE:
                self._sweep()
            is_group = isinstance(key, str) or key < 0
            window = self._chats[key] = SlidingWindow(*(self._group_chat if is_group else self._private_chat))
        return window

    def _sweep(self) -> None:
        now = self._clock()
        if now < self._next_sweep:
            return
        self._next_sweep = now + 1.0
        for key in [key for key, window in self._chats.items() if window.idle(now)]:
            del self._chats[key]


def _chat_key(chat_id: object) -> int | str:
    if isinstance(chat_id, int):
        return chat_id
    text = str(chat_id)
    return int(text) if text.lstrip("-").isdigit() else text


def retry_after_seconds(exc: RetryAfter) -> float:
    """How long Telegram asked to wait."""
    # PTB 22 warns on reading `retry_after` as an int unless PTB_TIMEDELTA is set; accept both forms.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
