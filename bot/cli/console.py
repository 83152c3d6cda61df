"""The ``newsbot`` Typer app and the edge where errors become messages.

Commands live in the sibling modules, one per area; each raises newsbot's error types, and :func:`run_command`
turns them into one line on stderr and exit code 1.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from bot.app.config import Settings, load_settings
from bot.app.errors import NewsbotError
from bot.app.newsroom import Newsroom
from bot.app.store_access import database_setting, open_newsroom, store_named

# A `newsbot` process ends when its command does. Python's last garbage collections at exit walk every object of
# every library loaded (about half a second of CPU after `newsbot run`, a third after `newsbot deliver`) only to
# free memory the exit frees anyway; frozen objects are skipped. Refcounts still free what they free, and the
# other exit handlers run as before: the command has already closed its store and channels.
atexit.register(gc.freeze)

app = typer.Typer(
    help="newsbot: newsletter and social distribution for a newsroom (Telegram, email, weekly digests).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

#: Titles, topics, addresses and file names are printed as given: rich markup ("[bold]") and emoji codes
#: (":warning:") are off, so user text can neither crash a print nor restyle the terminal. The few lines that
#: style text build a rich ``Text`` with an explicit style instead.
out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)
T = TypeVar("T")


def settings_of(ctx: typer.Context) -> Settings:
    settings: Settings = ctx.find_root().obj
    return settings


@app.callback()
def main(ctx: typer.Context) -> None:
    """Read the settings once; a bad setting stops every command with a message naming it."""
    try:
        ctx.obj = load_settings()
    except NewsbotError as exc:
        fail(str(exc))


def fail(message: str, code: int = 1) -> None:
    """Stop the command with one line on stderr."""
    err.print(f"newsbot: error: {message}", markup=False)
    raise typer.Exit(code)


def run_command(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine, turning newsbot's errors into one line on stderr and exit code 1."""
    try:
        return asyncio.run(coroutine)
    except NewsbotError as exc:
        fail(str(exc))
        raise AssertionError("unreachable") from exc


async def with_newsroom(settings: Settings, work: Callable[[Newsroom], Awaitable[T]]) -> T:
    """Open the newsroom (migrating the store), run *work*, close it whatever happens.

    A store that cannot be reached, read or used stops the command with one line naming the setting.
    """
    newsroom = await open_newsroom(settings)
    try:
        with store_named(database_setting(settings), settings.database_url, connecting=False):
            return await work(newsroom)
    finally:
        await newsroom.close()


#: The ``--json`` flag of the story-life commands, and the story they act on.
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
StoryId = Annotated[str, typer.Argument(help="The stored story's id (as `newsbot ingest` printed it).")]


def print_report(
    ctx: typer.Context,
    work: Callable[[Newsroom], Awaitable[T]],
    *,
    as_json: bool,
    to_json: Callable[[T], object],
    to_lines: Callable[[T], list[str]],
) -> None:
    """Run a story-life command's *work* on the newsroom and print its report: as JSON with ``--json``, else the
    lines *to_lines* words it in, so every such command answers both ways alike."""
    report = run_command(with_newsroom(settings_of(ctx), work))
    if as_json:
        print(json.dumps(to_json(report), ensure_ascii=False))
        return
    for line in to_lines(report):
        out.print(line, markup=False)
