"""Which stories a worker must not send right now: those an editor stopped or retracted.

Stopping a story turns its queued messages to ``stopped`` in the store at once, but a worker may hold claimed
rows of it in memory for seconds (a batch at Telegram's rate; messages waiting in the rate limiter). So each send
of a story's own message asks :class:`HaltedStories` right before it goes out: one primary-key query refreshes
what the worker knows of the stories it is sending, at most every :data:`REFRESH_SECONDS` on the worker's clock
while they may be sent, so a stop reaches every worker, in any process, within that interval plus one send.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from bot.app.clock import Clock
from bot.app.newsroom import Newsroom
from subscribers import story_states

#: How stale a worker's knowledge of a story's stop may be.
REFRESH_SECONDS = 0.5
#: Stories remembered between refreshes (a worker sends a handful at a time).
_REMEMBERED = 256


class HaltedStories:
    """The halted state of the stories a worker is sending, refreshed from the store at most every 0.5 s."""

    def __init__(self, newsroom: Newsroom, clock: Clock) -> None:
        self._newsroom = newsroom
        self._clock = clock
        self._known: dict[str, str | None] = {}  # story id -> why it is halted (None: it is not)
        self._checked_at: datetime | None = None
        self._refreshes = 0
        self._lock = asyncio.Lock()

    def _fresh(self, now: datetime) -> bool:
        return self._checked_at is not None and now - self._checked_at < timedelta(seconds=REFRESH_SECONDS)

    async def why_halted(self, story_id: str) -> str | None:
        """``"stopped"``, ``"retracted"``, or None when the story may be sent.

        "May be sent" is trusted for :data:`REFRESH_SECONDS`; "halted" is always asked afresh (it is rare, and a
        resume must not find its messages stopped again on stale knowledge).
        """
        if self._known.get(story_id, "") is None and self._fresh(self._clock.now()):
            return None
        asked = self._refreshes
        async with self._lock:  # one refresh for all the sends asking at once
            if self._refreshes == asked or story_id not in self._known:
                ids = [*list(self._known)[-_REMEMBERED:], story_id]
                now = self._clock.now()
                async with self._newsroom.reader.connect() as conn:
                    halted = await story_states.halted_among(conn, ids)
                self._known = {known: halted.get(known) for known in ids}
                self._checked_at = now
                self._refreshes += 1
        return self._known[story_id]

    async def may_send(self, story_id: str) -> bool:
        return await self.why_halted(story_id) is None
