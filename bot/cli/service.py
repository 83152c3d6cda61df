"""The ``run`` command: serve the bot, the web side, the delivery worker and the scheduler in one process."""

from __future__ import annotations

import logging
import sys

import typer

from bot.cli.console import app, run_command, settings_of
from bot.service import serve_until_signalled

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
def run(ctx: typer.Context) -> None:
    """Serve everything until Ctrl+C or SIGTERM: the Telegram bot, the web side, deliveries and scheduled jobs."""
    configure_logging()
    run_command(serve_until_signalled(settings_of(ctx)))
