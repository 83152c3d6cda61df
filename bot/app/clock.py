"""Where the delivery worker reads the time and waits: real time by default, a hand-moved clock in tests.

Retry times, channel probes and how long `newsbot deliver` waits for a retry all follow this clock, so a test can
move an outage 23 hours forward without waiting for it.
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
