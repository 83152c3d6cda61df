"""Rate limits on signups and confirm attempts: per client address and for the whole site, per minute.

Without them anyone could make newsbot mail strangers by posting address after address to the signup form, or
try confirmation links by the thousand. Counts live in the store (``subscribers.request_limits``), so several
web processes behind one load balancer share them. Windows are fixed minutes of the clock: within one minute a
client gets at most its limit, across a minute's boundary at most twice that.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app.config import Settings
from bot.app.errors import NewsbotError
from subscribers.request_limits import count_request, forget_windows_before

Action = Literal["signup", "confirm", "desk-login"]
WINDOW_SECONDS = 60
_WHAT = {"signup": "sign-ups", "confirm": "confirmation attempts", "desk-login": "sign-in requests"}


class TooManyRequests(NewsbotError):
    """Over a rate limit; ``retry_after`` is the whole seconds until the next window lets the request in."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def client_key(host: str | None) -> str | None:
    """The bucket name of a client address: IPv6 by its /64 (one household or server), IPv4 as it is."""
    if not host:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:100]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _limits(settings: Settings, action: Action) -> tuple[int, int]:
    if action in ("signup", "desk-login"):  # sign-in links to the desk mail someone just like a signup does
        return settings.signup_limit_per_client, settings.signup_limit_per_site
    return settings.confirm_limit_per_client, settings.confirm_limit_per_site


def wait_phrase(seconds: int) -> str:
    """*seconds* for a reader: "40 seconds", "2 minutes"."""
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{round(seconds / 60)} minutes"


@dataclass
class RequestLimits:
    """Admits signups and confirm attempts within the limits of the settings; ``clock`` is injectable for tests."""

    clock: Callable[[], float] = field(default=time.time)

    async def admit(self, engine: AsyncEngine, settings: Settings, action: Action, client: str | None) -> None:
        """Count one *action* by *client* (None: only the site's count) or raise TooManyRequests.

        A client over its own limit is turned away before the site's count, so it cannot use up everyone's; a
        refused request counts nowhere (its transaction rolls back).
        """
        now = self.clock()
        window = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
        retry_after = max(1, math.ceil(window + WINDOW_SECONDS - now))
        per_client, per_site = _limits(settings, action)
        who = "this chat" if client is not None and client.startswith("subscriber:") else "your address"
        async with engine.begin() as conn:
            if client is not None and await count_request(conn, f"{action}:client:{client}", window) > per_client:
                raise TooManyRequests(
                    f"too many {_WHAT[action]} from {who} in the last minute; nothing was sent or changed, "
                    f"please try again in {wait_phrase(retry_after)}",
                    retry_after,
                )
            site_hits = await count_request(conn, f"{action}:site", window)
            if site_hits == 1:  # the first request of a new minute tidies up the ones before
                await forget_windows_before(conn, window)
            if site_hits > per_site:
                raise TooManyRequests(
                    f"we are receiving too many {_WHAT[action]} right now; nothing was sent or changed, please try "
                    f"again in {wait_phrase(retry_after)}",
                    retry_after,
                )
