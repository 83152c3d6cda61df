"""Claimed deliveries waiting for a send slot: per channel, the most urgent first.

A worker claims ahead (up to a batch per channel), so a breaking story queued now finds digest and normal rows
already in the worker's hands. Kept in arrival order they would all go first; kept here, the breaking rows of the
next claim overtake them, and each channel has its own line, so a slow or busy channel (Telegram at its rate limit)
never holds up another (email) whose sends could go out meanwhile.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable

from subscribers.deliveries import ClaimedDelivery


class ReadyDeliveries:
    """Claimed, not yet handed to a channel; :meth:`pop` gives a channel's most urgent, oldest-claimed first."""

    def __init__(self) -> None:
        self._lines: dict[str, list[tuple[int, int, ClaimedDelivery]]] = {}
        self._order = itertools.count()  # ties keep claim order (the claim's own oldest-first order)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, items: Iterable[ClaimedDelivery]) -> None:
        for item in items:
            heapq.heappush(self._lines.setdefault(item.channel, []), (item.priority, next(self._order), item))
            self._size += 1

    def count(self, channel: str) -> int:
        return len(self._lines.get(channel, ()))

    def channels(self) -> list[str]:
        """Channels with something waiting."""
        return [channel for channel, line in self._lines.items() if line]

    def head_priority(self, channel: str) -> int:
        """The priority of what :meth:`pop` would give next for *channel* (which must have something waiting)."""
        return self._lines[channel][0][0]

    def pop(self, channel: str) -> ClaimedDelivery:
        self._size -= 1
        return heapq.heappop(self._lines[channel])[2]

    def take_all(self) -> list[ClaimedDelivery]:
        """Empty every line (a stop returns them to the queue)."""
        items = [entry[2] for line in self._lines.values() for entry in line]
        self._lines.clear()
        self._size = 0
        return items
