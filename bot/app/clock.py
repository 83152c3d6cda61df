"""Where newsbot reads the time and waits: real time by default, a hand-moved clock in tests.

The newsroom carries one (``Newsroom.clock``): chat commands, web pages, feeds and CLI commands stamp rows with it,
and the delivery worker and the digest planner take it too. Retry times, channel probes, signup cooldowns and how
long `newsbot deliver` waits for a retry all follow it, so a test can move an outage 23 hours forward without
waiting for it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """The time (timezone-aware UTC) and a way to wait for some of it to pass."""

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
