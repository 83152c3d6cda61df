"""Database commands."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import MofNCompleteColumn, Progress, TaskID, TextColumn

from bot.app.config import Settings
from bot.app.store_access import database_setting, store_named
from bot.cli.console import app, err, out, run_command, settings_of
from subscribers.copying import CopyReport, copy_store
from subscribers.database import create_engine
from subscribers.errors import CopyStoreFailed
from subscribers.migrate import upgrade_database

db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply database migrations (newsbot also does this on start)."""

    async def work(settings: Settings) -> str | None:
        with store_named(database_setting(settings), settings.database_url):
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
    """Copy a whole installation into an empty store, e.g. from SQLite to PostgreSQL.

    The source must exist (a mistyped SQLite path is refused, not created empty); a store that cannot be reached
    or read is one line naming --from or --to.
    """

    async def work() -> CopyReport:
        with store_named("--from", source):
            source_engine = create_engine(source, must_exist=True)
            try:
                async with source_engine.connect():  # reach the source before anything is made for the target
                    pass
            except BaseException:
                await source_engine.dispose()
                raise
        try:
            with store_named("--to", target):
                target_engine = create_engine(target)
        except BaseException:
            await source_engine.dispose()
            raise
        try:
            with Progress(
                TextColumn("{task.description}", markup=False),
                MofNCompleteColumn(),
                console=err,
                transient=True,  # the counts are printed after; an error then stands alone
                disable=not err.is_terminal,
            ) as bar:
                tasks: dict[str, TaskID] = {}

                def advance(table: str, rows: int) -> None:
                    if table not in tasks:
                        tasks[table] = bar.add_task(f"copying {table}", total=None)
                    bar.advance(tasks[table], rows)

                return await copy_store(source_engine, target_engine, progress=advance)
        except CopyStoreFailed as failed:
            option, url = ("--from", source) if failed.side == "source" else ("--to", target)
            with store_named(option, url):
                raise failed.failure from None
            raise  # pragma: no cover - store_named always raises
        finally:
            await source_engine.dispose()
            await target_engine.dispose()

    report = run_command(work())
    total = sum(report.rows.values())
    out.print(f"Copied {total} rows at revision {report.revision}:", markup=False)
    for table, rows in report.rows.items():
        out.print(f"  {table}: {rows}", markup=False)
