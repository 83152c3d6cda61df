"""Database commands."""

from __future__ import annotations

import typer

from bot.cli.console import app, out, run_command, settings_of
from bot.config import Settings
from subscribers.database import create_engine
from subscribers.migrate import upgrade_database

db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply database migrations (newsbot also does this on start)."""

    async def work(settings: Settings) -> str | None:
        engine = create_engine(settings.database_url)
        try:
            return await upgrade_database(engine)
        finally:
            await engine.dispose()

    revision = run_command(work(settings_of(ctx)))
    out.print(f"Database is at revision {revision}.", markup=False)


