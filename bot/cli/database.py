"""Database commands."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import MofNCompleteColumn, Progress, TaskID, TextColumn

from bot.cli.console import app, err, out, run_command, settings_of
from bot.config import Settings
from subscribers.copying import CopyReport, copy_store
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




@db_app.command("copy")
def db_copy(
    source: Annotated[str, typer.Option("--from", help="SQLAlchemy URL of the store to copy from.")],
    target: Annotated[str, typer.Option("--to", help="SQLAlchemy URL of the empty store to copy into.")],
) -> None:
    """Copy a whole installation into an empty store, e.g. from SQLite to PostgreSQL."""

    async def work() -> CopyReport:
        source_engine, target_engine = create_engine(source), create_engine(target)
        try:
            with Progress(TextColumn("{task.description}"), MofNCompleteColumn(), console=err) as bar:
                tasks: dict[str, TaskID] = {}

                def advance(table: str, rows: int) -> None:
                    if table not in tasks:
                        tasks[table] = bar.add_task(f"copying {table}", total=None)
                    bar.advance(tasks[table], rows)

                return await copy_store(source_engine, target_engine, progress=advance)
        finally:
            await source_engine.dispose()
            await target_engine.dispose()

    report = run_command(work())
    total = sum(report.rows.values())
    out.print(f"Copied {total} rows at revision {report.revision}:", markup=False)
    for table, rows in report.rows.items():
        out.print(f"  {table}: {rows}", markup=False)
