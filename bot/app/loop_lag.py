"""How late the event loop runs: a callback due every few milliseconds, and how much later than due it fired.

Everything in ``newsbot run`` shares one loop (sends, replies, pages, feeds), so the longest stretch of work that
never awaits is the longest any of them waits. The monitor measures exactly that, from the outside: it asks to be
woken after ``interval`` seconds and records how much later it was. The lag is what the process reports on
``/metrics`` (``newsbot_event_loop_lag_seconds`` and ``newsbot_event_loop_lag_max_seconds``) and what
``bench/loop_stall.py`` reads. It is measured on the monotonic clock: it observes the loop, it decides nothing.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable

#: How often the monitor asks to be woken: short enough to see a 10 ms stall, cheap (100 wake-ups a second).
INTERVAL = 0.01
#: The recent maximum is over this many seconds.
WINDOW = 10


class LoopLagMonitor:
    """Measures the loop's lag while :meth:`run` runs; `max_lag` since start, `recent_max` over the last window."""

    def __init__(self, *, interval: float = INTERVAL, on_lag: Callable[[float], None] | None = None) -> None:
        self.interval = interval
        self.on_lag = on_lag
        self.max_lag = 0.0
        self.samples = 0
        # The largest lag of each of the last WINDOW seconds, by second.
        self._recent: collections.deque[tuple[int, float]] = collections.deque(maxlen=WINDOW)

    def record(self, lag: float) -> None:
        self.samples += 1
        self.max_lag = max(self.max_lag, lag)
        second = int(time.monotonic())
        if self._recent and self._recent[-1][0] == second:
            if lag > self._recent[-1][1]:
                self._recent[-1] = (second, lag)
        else:
            self._recent.append((second, lag))
        if self.on_lag is not None:
            self.on_lag(lag)

    @property
    def recent_max(self) -> float:
        """The longest lag of the last :data:`WINDOW` seconds (0 before the first sample)."""
        oldest = int(time.monotonic()) - WINDOW
        return max((lag for second, lag in self._recent if second > oldest), default=0.0)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Sample until *stop* is set (or until cancelled)."""
        while stop is None or not stop.is_set():
            due = time.perf_counter() + self.interval
            await asyncio.sleep(self.interval)
            self.record(max(0.0, time.perf_counter() - due))
