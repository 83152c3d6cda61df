"""The ``run`` command: serve the bot, the web side, the delivery worker and the scheduler in one process."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from bot.app.roles import Role
from bot.cli.console import app, run_command, settings_of

#: Loggers that would be noise at INFO; httpx would also print every Bot API URL, and those contain the token.
_QUIET = ("httpx", "httpcore", "apscheduler", "alembic", "uvicorn.error", "telegram.ext.Updater")


def configure_logging() -> None:
    """One line per event on stderr, with time and origin."""
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)


@app.command()
def run(
    ctx: typer.Context,
    role: Annotated[
        Role,
        typer.Option(
            help="What this process does: web (pages, API), bot (Telegram, scheduler, feeds: run one), "
            "worker (deliveries, social posts: run many), or all of it."
        ),
    ] = Role.ALL,
) -> None:
    """Serve until Ctrl+C or SIGTERM: the Telegram bot, the web side, deliveries and scheduled jobs."""
    from bot.app.process import serve_until_signalled  # the web, the bot and the channels: only for this command

    configure_logging()
    run_command(serve_until_signalled(settings_of(ctx), role))
