"""The web side of ``newsbot run``: uvicorn serving ``create_app(newsroom)`` on the socket the service bound.

Apart from :mod:`bot.app.process` so that only a process that serves the web side imports FastAPI, uvicorn and
the routers, and only once its store is open: a ``--role worker`` process never pays for them, and a store that
cannot be opened is reported before they load.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import uvicorn

from bot.app.newsroom import Newsroom
from bot.channels import Channel
from bot.web import create_app
from bot.web.telegram_webhook import webhook_path, webhook_router, webhook_secret

if TYPE_CHECKING:
    from bot.app.telegram_bot import NewsbotApplication


class WebServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the service decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def web_server(
    newsroom: Newsroom, channels: dict[str, Channel], webhook_application: NewsbotApplication | None = None
) -> WebServer:
    """The server of this process's web side; with *webhook_application*, Telegram's updates arrive on it too.

    One SMTP pool per process: the web side sends through the service's channels, and the Telegram channel tells
    a reader's chat their email is confirmed.
    """
    settings = newsroom.settings
    web = create_app(newsroom, email_channel=channels["email"], telegram_channel=channels["telegram"])
    if webhook_application is not None:
        web.include_router(
            webhook_router(
                webhook_application,
                secret=webhook_secret(settings, newsroom.secret.value),
                path=webhook_path(settings),
            )
        )
    config = uvicorn.Config(
        web,
        log_level="warning",
        access_log=False,
        lifespan="auto",
        # Behind these proxies the client address (signup limits) is the one in X-Forwarded-For.
        forwarded_allow_ips=settings.trusted_proxies,
    )
    return WebServer(config)
