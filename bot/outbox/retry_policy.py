"""When a failed send is tried again, and when it is given up: one rule for reader deliveries and social posts.

A temporary failure is retried with exponential backoff and full jitter (30 s doubling per attempt, capped at an
hour, times a random 0.5 to 1, so retries of one outage don't arrive together), or exactly when the other side
asked for (``retry_after``); the ``NEWSBOT_MAX_ATTEMPTS``-th failed attempt is the last.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.app.config import Settings

#: The first retry waits up to this long; each further attempt doubles it, up to BACKOFF_CAP_SECONDS.
BACKOFF_BASE_SECONDS = 30.0
BACKOFF_CAP_SECONDS = 3600.0


def backoff_seconds(attempts: int) -> float:
    """How long to wait after the *attempts*-th failed attempt (1 for the first)."""
    return random.uniform(0.5, 1.0) * min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempts - 1))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many attempts a send gets, and when the next one is due."""

    max_attempts: int

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(max_attempts=settings.max_attempts)

    def gives_up(self, attempts: int) -> bool:
        """True when *attempts* failed attempts (this one included) are all a send gets."""
        return attempts >= self.max_attempts

    def next_try(self, now: datetime, attempts: int, retry_after: float | None = None) -> datetime:
        """When to try again after the *attempts*-th failed attempt: *retry_after* seconds if the other side said,
        else the backoff."""
        delay = backoff_seconds(attempts) if retry_after is None else retry_after
        return now + timedelta(seconds=delay)
