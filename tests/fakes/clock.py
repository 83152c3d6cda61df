"""A clock the test moves by hand: the delivery worker's waits pass at once and move it forward."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
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


class SteppedMonotonic:
    """A monotonic clock in seconds that concurrent waiters share: each wait ends when the clock reaches its end,
    and the clock jumps straight to the earliest end once everything else has had its turn.

    Unlike `ManualMonotonic`, where every wait moves the clock on its own, overlapping waits overlap here, so the
    order in which they end is the order real time would give, without waiting for it. Before each jump the loop
    gets a moment (``STEP`` seconds) to carry requests already in flight on loopback; nothing depends on how long.
    """

    STEP = 0.001

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._waits: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._stepper: asyncio.Task[None] | None = None

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        done = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waits, (self.now + max(0.0, seconds), next(self._order), done))
        if self._stepper is None or self._stepper.done():
            self._stepper = asyncio.create_task(self._step())
        await done

    async def _step(self) -> None:
        while self._waits:
            await asyncio.sleep(self.STEP)
            self.now = max(self.now, self._waits[0][0])
            while self._waits and self._waits[0][0] <= self.now:
                _, _, done = heapq.heappop(self._waits)
                if not done.done():
                    done.set_result(None)


class GatedSleep:
    """A rate limiter's sleep on a `ManualMonotonic`: its waits pass at once until *hold_when()* is true, and from
    then on each is held until the test sets `opened`; `held` tells the test that one is waiting.

    The limiter waits for its overall rate in turn, so while one wait is held no other send gets past it: the test
    can land something (a stop, a breaking story) between two sends without timing it.
    """

    def __init__(self, clock: ManualMonotonic, hold_when: Callable[[], bool] = lambda: True) -> None:
        self.clock = clock
        self.hold_when = hold_when
        self.opened = asyncio.Event()
        self.held = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        if self.hold_when():
            self.held.set()
            await self.opened.wait()
        await self.clock.sleep(seconds)


class HeldClock(ManualClock):
    """A `ManualClock` whose waits last until the test ends them, so it can see a worker park and say when its
    poll comes instead of waiting for one.

    `asleep(n)` returns once the *n*-th wait has begun and is still under way; `end_waits()` ends those under way
    (the poll interval passed); a wait its caller gave up on (woken before it ended) is counted in `cut_short`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.cut_short = 0
        self._under_way: list[asyncio.Future[None]] = []
        self._began = asyncio.Condition()

    @property
    def waiting(self) -> bool:
        return bool(self._under_way)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        ends = asyncio.get_running_loop().create_future()
        self._under_way.append(ends)
        async with self._began:
            self._began.notify_all()
        try:
            await ends
        except asyncio.CancelledError:
            self.cut_short += 1
            raise
        finally:
            self._under_way.remove(ends)
        self.offset += timedelta(seconds=max(0.0, seconds))

    async def asleep(self, waits: int = 1) -> None:
        async with self._began:
            await self._began.wait_for(lambda: len(self.slept) >= waits and self.waiting)

    def end_waits(self) -> None:
        for ends in self._under_way:
            if not ends.done():
                ends.set_result(None)
