"""The roles a ``newsbot run`` process can take, apart from the process itself so the CLI names them cheaply."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    """What one ``newsbot run`` process does; a large deployment runs one bot, several workers, web replicas."""

    WEB = "web"  # the web side: reader pages, stories API, health check
    BOT = "bot"  # the Telegram bot, the scheduler (weekly digest) and the feed poller: run exactly one
    WORKER = "worker"  # a delivery worker and social poster: run as many as the sending rate needs
    ALL = "all"

    @property
    def parts(self) -> frozenset[Role]:
        return frozenset((Role.WEB, Role.BOT, Role.WORKER)) if self is Role.ALL else frozenset((self,))
