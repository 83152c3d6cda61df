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
from bot.languages.catalogs import N_
from bot.languages.formatting import Wait
from subscribers.request_limits import count_request, forget_windows_before

Action = Literal["signup", "confirm", "desk-login"]
WINDOW_SECONDS = 60
#: What a client over its own limit is told, by action and by who asks (a web client, or a chat through /email);
#: whole sentences, so that each language can build its own. The desk's are for editors and stay English.
_CLIENT_REFUSALS = {
    ("signup", "client"): N_("too many sign-ups from your address in the last minute; nothing was sent or changed, "
                             "please try again in %(wait)s"),
    ("signup", "chat"): N_("too many sign-ups from this chat in the last minute; nothing was sent or changed, "
                           "please try again in %(wait)s"),
    ("confirm", "client"): N_("too many confirmation attempts from your address in the last minute; nothing was sent "
                              "or changed, please try again in %(wait)s"),
    ("confirm", "chat"): N_("too many confirmation attempts from this chat in the last minute; nothing was sent or "
                            "changed, please try again in %(wait)s"),
    ("desk-login", "client"): "too many sign-in requests from your address in the last minute; nothing was sent or "
                              "changed, please try again in %(wait)s",
    ("desk-login", "chat"): "too many sign-in requests from this chat in the last minute; nothing was sent or "
                            "changed, please try again in %(wait)s",
}  # fmt: skip
#: ... and what everyone is told when the whole site is over its limit.
_SITE_REFUSALS = {
    "signup": N_("we are receiving too many sign-ups right now; nothing was sent or changed, please try again in "
                 "%(wait)s"),
    "confirm": N_("we are receiving too many confirmation attempts right now; nothing was sent or changed, please "
                  "try again in %(wait)s"),
    "desk-login": "we are receiving too many sign-in requests right now; nothing was sent or changed, please try "
                  "again in %(wait)s",
}  # fmt: skip


class TooManyRequests(NewsbotError):
    """Over a rate limit; ``retry_after`` is the whole seconds until the next window lets the request in.

    Its sentence has the wait as its ``wait`` field, which the edge puts in the reader's words.
    """

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, wait=Wait(retry_after))
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
        who = "chat" if client is not None and client.startswith("subscriber:") else "client"
        async with engine.begin() as conn:
            if client is not None and await count_request(conn, f"{action}:client:{client}", window) > per_client:
                raise TooManyRequests(_CLIENT_REFUSALS[(action, who)], retry_after)
            site_hits = await count_request(conn, f"{action}:site", window)
            if site_hits == 1:  # the first request of a new minute tidies up the ones before
                await forget_windows_before(conn, window)
            if site_hits > per_site:
                raise TooManyRequests(_SITE_REFUSALS[action], retry_after)
