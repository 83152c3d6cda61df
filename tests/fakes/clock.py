"""A clock the test moves by hand: the delivery worker's waits pass at once and move it forward."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta


class ManualClock:
    """Real time plus an offset that only the test (and waits) move: rows written by code on the real clock stay
    in order, while a worker waiting 40 s for a probe does so instantly, and `advance(hours=23)` skips an outage.

    `slept` lists every wait asked for.
    """

    def __init__(self) -> None:
        self.offset = timedelta()
        self.slept: list[float] = []

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.offset += timedelta(seconds=max(0.0, seconds))
        await asyncio.sleep(0)


class ManualMonotonic:
    """A monotonic clock in seconds for the rate limiter and the fake Bot API's flood windows: every wait moves
    it forward at once, so a test of a 1-second pause takes no second and asserts exact times."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)
