"""Subscriber commands: add, list, remove, import."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import MofNCompleteColumn, Progress
from rich.table import Table

from bot.app.errors import InvalidSubscriber, SubscriberNotFound
from bot.app.newsroom import Newsroom
from bot.cli.console import app, err, fail, out, run_command, settings_of, with_newsroom
from bot.cli.reader_changes import ReaderUpdate, add_or_update, print_add_outcome, subscribers_update
from bot.stories.text_decoding import NotText, decode_text
from subscribers import readers
from subscribers.garbage_collection import garbage_collection_paused
from subscribers.import_owners import RefusedRows
from subscribers.preferences import (
    build_subscriber,
    normalise_chat_id,
    normalise_email,
    parse_cadence_options,
    read_subscribers_csv,
)
from subscribers.schema import ChannelName

subscribers_app = typer.Typer(help="Add, list, remove and import subscribers.", no_args_is_help=True)
app.add_typer(subscribers_app, name="subscribers")


@subscribers_app.command("add")
def subscribers_add(
    ctx: typer.Context,
    topic: Annotated[list[str], typer.Option("--topic", "-t", help="Topic to follow (slug, name or alias).")],
    telegram_chat: Annotated[str | None, typer.Option(help="Telegram chat id.")] = None,
    email: Annotated[str | None, typer.Option(help="Email address.")] = None,
    confirmed: Annotated[
        bool, typer.Option(help="The email address is already confirmed (otherwise it waits for double opt-in).")
    ] = False,
    cadence: Annotated[
        list[str], typer.Option(help="CHANNEL=CADENCE, e.g. email=instant (instant, weekly, off).")
    ] = [],  # noqa: B006
) -> None:
    """Add a subscriber; on an address that already exists, apply the topics, cadence and confirmation given."""

    async def work(newsroom: Newsroom) -> ReaderUpdate | None:
        cadences = parse_cadence_options(cadence)
        subscriber = build_subscriber(
            newsroom.taxonomy,
            telegram_chat=telegram_chat,
            email=email,
            topics=topic,
            confirmed=confirmed,
            cadences=cadences,
        )
        return await add_or_update(newsroom, subscriber, confirmed=confirmed, cadences=cadences)

    update = run_command(with_newsroom(settings_of(ctx), work))
    print_add_outcome(update, email_given=email is not None, confirmed=confirmed)


subscribers_app.command("update")(subscribers_update)


@subscribers_app.command("list")
def subscribers_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List subscribers with their addresses, cadences and topics."""

    async def work(newsroom: Newsroom) -> list[readers.SubscriberView]:
        async with newsroom.reader.connect() as conn:
            return await readers.list_subscribers(conn)

    views = run_command(with_newsroom(settings_of(ctx), work))
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "id": v.id,
                        "created_at": v.created_at.isoformat(),
                        "addresses": v.addresses,
                        "topics": v.topics,
                    }
                    for v in views
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    table = Table("id", "telegram", "email", "topics")
    for v in views:
        cells = []
        for channel in ChannelName:
            a = v.addresses.get(channel.value)
            cells.append(f"{a['address']} ({a['cadence']}, {a['status']})" if a else "")
        table.add_row(str(v.id), *cells, ", ".join(v.topics))
    out.print(table)
    out.print(f"{len(views)} subscriber(s)", markup=False)


@subscribers_app.command("remove")
def subscribers_remove(
    ctx: typer.Context,
    telegram_chat: Annotated[str | None, typer.Option(help="Telegram chat id.")] = None,
    email: Annotated[str | None, typer.Option(help="Email address.")] = None,
    subscriber_id: Annotated[int | None, typer.Option("--id", help="Subscriber id (from `subscribers list`).")] = None,
) -> None:
    """Erase a subscriber and their personal data (addresses, follows, queued messages)."""
    if sum(x is not None for x in (telegram_chat, email, subscriber_id)) != 1:
        fail("give exactly one of --telegram-chat, --email or --id", code=2)

    async def work(newsroom: Newsroom) -> int:
        async with newsroom.engine.begin() as conn:
            target = subscriber_id
            if target is None:
                key = (
                    (ChannelName.TELEGRAM.value, normalise_chat_id(telegram_chat))
                    if telegram_chat
                    else (ChannelName.EMAIL.value, normalise_email(email or ""))
                )
                target = (await readers.find_subscriber_ids(conn, [key])).get(key)
                if target is None:
                    raise SubscriberNotFound(f"no subscriber with {key[0]} address {key[1]}")
            if not await readers.remove_subscriber(conn, target):
                raise SubscriberNotFound(f"no subscriber with id {target}")
            return target

    removed = run_command(with_newsroom(settings_of(ctx), work))
    out.print(f"Removed subscriber {removed} and their data.", markup=False)


@contextmanager
def import_progress() -> Iterator[Progress | None]:
    """A progress bar for each stage of an import on a terminal; None when stdout is a pipe or a file, which get
    only the result line."""
    if not out.is_terminal:
        yield None
        return
    with Progress(*Progress.get_default_columns(), MofNCompleteColumn(), console=out) as progress:
        yield progress


def stage(progress: Progress | None, description: str, total: int) -> Callable[[int], None] | None:
    """A callback moving one stage's bar to the count it is given (None without a bar)."""
    if progress is None:
        return None
    task = progress.add_task(description, total=total)
    return lambda done: progress.update(task, completed=done)


@subscribers_app.command("import")
def subscribers_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV with a header: telegram_chat, email, topics (';'-separated), ...")],
    skip_invalid: Annotated[bool, typer.Option(help="Import the valid rows even if some are invalid.")] = False,
) -> None:
    """Import subscribers from CSV; every row is checked first and nothing is imported if any is invalid."""

    async def work(newsroom: Newsroom) -> tuple[int, readers.ImportOutcome | None, list[str]]:
        try:
            text = decode_text(file.read_bytes())
        except OSError as exc:
            raise InvalidSubscriber(f"{file}: cannot read ({exc.strerror or exc})") from None
        except NotText as exc:
            raise InvalidSubscriber(f"{file}: is {exc}; expected a CSV file") from None
        with import_progress() as progress:
            # Lines, not rows, until the end: a close upper bound (a quoted field may span lines).
            parsed = read_subscribers_csv(text, newsroom.taxonomy, stage(progress, "Checking rows", text.count("\n")))
            if progress is not None:
                progress.update(progress.task_ids[0], total=parsed.rows)
            if parsed.errors and not skip_invalid:
                async with newsroom.engine.connect() as conn:  # the store's refusals too, all in one go
                    refused = await readers.refused_rows(conn, parsed.subscribers)
                return parsed.rows, None, [f"{file}:{e}" for e in parsed.refused(refused)]
            written = stage(progress, "Importing", len(parsed.subscribers))
            try:
                async with newsroom.engine.begin() as conn:
                    outcome = await readers.add_subscribers(
                        conn, parsed.subscribers, newsroom.clock.now(), written, skip_refused=skip_invalid
                    )
            except RefusedRows as exc:  # rows naming two readers; nothing was written
                return parsed.rows, None, [f"{file}:{e}" for e in parsed.refused(exc.reasons)]
        return parsed.rows, outcome, [f"{file}:{e}" for e in parsed.refused(outcome.refused)]

    # The whole command, awaits included: nothing else runs in this process, and collecting once at the end of
    # each paused stage would walk the rows still held for the next (see subscribers.garbage_collection).
    with garbage_collection_paused():
        rows, outcome, problems = run_command(with_newsroom(settings_of(ctx), work))
    for problem in problems[:50]:
        err.print(problem, markup=False)
    if len(problems) > 50:
        err.print(f"... and {len(problems) - 50} more invalid rows", markup=False)
    if outcome is None:
        err.print(
            f"newsbot: error: {len(problems)} of {rows} rows are invalid; nothing imported "
            "(fix them, or pass --skip-invalid to import the valid rows)",
            markup=False,
        )
        raise typer.Exit(1)
    out.print(
        f"Imported {rows - len(problems)} of {rows} rows: {outcome.created} new subscribers, "
        f"{outcome.merged} existing ones updated, {outcome.added} addresses added"
        + (f", {len(problems)} invalid rows skipped" if problems else "."),
        markup=False,
    )
