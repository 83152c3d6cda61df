"""The ``newsbot`` command line: one module per area, all registered on one Typer app."""

from bot.cli import (  # noqa: F401  (registers the commands)
    correction_commands,
    delivery_commands,
    demo_commands,
    desk_account_commands,
    digest_commands,
    editor_commands,
    language_commands,
    process_commands,
    reader_commands,
    retag_commands,
    schedule_commands,
    store_commands,
    story_commands,
)
from bot.cli.console import app

__all__ = ["app"]
