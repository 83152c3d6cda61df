"""The ``newsbot`` command line: one module per area, all registered on one Typer app."""

from bot.cli import database, delivery, demo, digest, editors, retag, service, stories, subscribers  # noqa: F401  (registers the commands)
from bot.cli.console import app

__all__ = ["app"]
