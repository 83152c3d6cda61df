"""The ``newsbot`` command line: ingest stories, manage subscribers, deliver, preview, and a no-credentials demo.

Errors are turned into one line on stderr and a non-zero exit here, at the edge; the code below raises types.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bot.channels import build_channels
from bot.config import Settings, load_settings
from bot.delivery import DeliveryWorker, DrainReport
from bot.email_message import EmailTemplate
from bot.errors import InvalidSubscriber, NewsbotError, SubscriberNotFound
from bot.ingest import IngestResult, ingest_story, prepare_story
from bot.newsroom import Newsroom
from bot.story import Story
from bot.story_input import read_story_file
from bot.taxonomy import Taxonomy
from subscribers import queries
from subscribers.database import create_engine
from subscribers.migrate import upgrade_database
from subscribers.preferences import (
    build_subscriber,
    normalise_chat_id,
    normalise_email,
    parse_cadence_options,
    read_subscribers_csv,
)
from subscribers.schema import ChannelName

app = typer.Typer(
    help="newsbot: newsletter and social distribution for a newsroom (Telegram, email, weekly digests).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
subscribers_app = typer.Typer(help="Add, list, remove and import subscribers.", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(db_app, name="db")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
T = TypeVar("T")


def _settings(ctx: typer.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


@app.callback()
def main(ctx: typer.Context) -> None:
    """Read the settings once; a bad setting stops every command with a message naming it."""
    try:
        ctx.obj = load_settings()
    except NewsbotError as exc:
        err.print(f"newsbot: error: {exc}", markup=False)
        raise typer.Exit(1) from None


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine, turning newsbot's errors into one line on stderr and exit code 1."""
    try:
        return asyncio.run(coroutine)
    except NewsbotError as exc:
        err.print(f"newsbot: error: {exc}", markup=False)
        raise typer.Exit(1) from None


async def _with_newsroom(settings: Settings, work: Callable[[Newsroom], Awaitable[T]]) -> T:
    newsroom = await Newsroom.open(settings)
    try:
        return await work(newsroom)
    finally:
        await newsroom.close()


# --- Stories -----------------------------------------------------------------------------------------------


def _story_json(result: IngestResult) -> dict[str, Any]:
    story = result.story
    return {
        "id": story.id,
        "title": story.title,
        "topics": list(story.topics),
        "summary": story.summary,
        "breaking": story.breaking,
        "url": story.url,
        "created": result.created,
        "dry_run": result.dry_run,
        "recipients": result.recipients,
    }


def _print_story(result: IngestResult) -> None:
    story = result.story
    if result.dry_run:
        state = "dry run, nothing stored"
    else:
        state = "new" if result.created else "already ingested, nothing new queued"
    out.print(f"[bold]{story.title}[/bold]  ({state})", highlight=False)
    out.print(f"  id:       {story.id}", markup=False)
    out.print(f"  topics:   {', '.join(story.topics) or '(none: nobody will receive it)'}", markup=False)
    out.print(f"  breaking: {'yes' if story.breaking else 'no'}", markup=False)
    out.print(f"  summary:  {story.summary}", markup=False)
    verb = "would reach" if result.dry_run else "queued for"
    counts = ", ".join(f"{channel} {count}" for channel, count in result.recipients.items())
    out.print(f"  {verb}: {counts}", markup=False)


def _prepare_all(newsroom: Newsroom, paths: list[Path], topics: list[str], breaking: bool) -> list[Story]:
    """Parse and tag every file before storing any, so one bad file leaves nothing half-ingested."""
    settings = newsroom.settings
    return [
        prepare_story(
            read_story_file(path, settings.max_story_bytes),
            settings=settings,
            taxonomy=newsroom.taxonomy,
            tagger=newsroom.tagger,
            extra_topics=topics,
            breaking=breaking,
        )
        for path in paths
    ]


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Story files: plain text, or Markdown with front matter.")],
    topic: Annotated[list[str], typer.Option("--topic", "-t", help="Topic to add (slug, name or alias).")] = [],  # noqa: B006
    breaking: Annotated[bool, typer.Option(help="Mark as breaking news: weekly-cadence chats get it now too.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Parse, tag and count recipients; store and send nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per story on stdout.")] = False,
) -> None:
    """Parse, tag and summarise stories, store them and queue them for their readers."""

    async def work(newsroom: Newsroom) -> list[IngestResult]:
        stories = _prepare_all(newsroom, paths, topic, breaking)
        return [await ingest_story(newsroom, story, dry_run=dry_run) for story in stories]

    results = _run(_with_newsroom(_settings(ctx), work))
    for result in results:
        if as_json:
            print(json.dumps(_story_json(result), ensure_ascii=False))
        else:
            _print_story(result)
    if not as_json and not dry_run and any(r.created for r in results):
        out.print("Run `newsbot deliver` to send what was queued.", markup=False)


@app.command()
def preview(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Story file to render.")],
    channel: Annotated[ChannelName, typer.Option(help="Which message to render.")] = ChannelName.TELEGRAM,
    topic: Annotated[list[str], typer.Option("--topic", "-t", help="Topic to add.")] = [],  # noqa: B006
) -> None:
    """Render a story as readers would get it, without storing or sending anything; prints the file written."""

    async def work(newsroom: Newsroom) -> list[Path]:
        story = _prepare_all(newsroom, [path], topic, False)[0]
        folder = newsroom.settings.data_dir / "preview"
        folder.mkdir(parents=True, exist_ok=True)
        if channel is ChannelName.TELEGRAM:
            target = folder / f"{story.id}.telegram.html"
            target.write_text(newsroom.renderer.telegram_message(story), encoding="utf-8")
            return [target]
        compiled = newsroom.renderer.compile_email(story)
        page = folder / f"{story.id}.email.html"
        page.write_text(compiled.html, encoding="utf-8")
        message = folder / f"{story.id}.eml"
        message.write_bytes(
            EmailTemplate(compiled, newsroom.settings).for_recipient(
                to="reader@example.org",
                unsubscribe_url=newsroom.signer.unsubscribe_url(0),
                preferences_url=newsroom.signer.preferences_url(0),
            )
        )
        return [page, message]

    for written in _run(_with_newsroom(_settings(ctx), work)):
        print(written)


@app.command()
def topics(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the taxonomy as JSON.")] = False,
) -> None:
    """List the topics readers can follow."""
    settings = _settings(ctx)
    taxonomy = _run(_load_taxonomy(settings))
    if as_json:
        print(
            json.dumps(
                [
                    {"slug": t.slug, "name": t.name, "description": t.description, "aliases": list(t.aliases)}
                    for t in taxonomy
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    table = Table("slug", "name", "description")
    for t in taxonomy:
        table.add_row(t.slug, t.name, t.description)
    out.print(table)


async def _load_taxonomy(settings: Settings) -> Taxonomy:
    return Taxonomy.load(settings.topics_file)


# --- Delivery ----------------------------------------------------------------------------------------------


async def deliver_all(newsroom: Newsroom, *, show_progress: bool) -> DrainReport:
    """Drain the outbox through the configured channels, with a progress bar on a terminal."""
    channels = build_channels(newsroom.settings)
    worker = DeliveryWorker(newsroom, channels)
    try:
        async with newsroom.engine.connect() as conn:
            due = await queries.count_due_deliveries(conn, datetime.now(UTC))
        if not show_progress or due == 0:
            return await worker.drain()
        with Progress(
            TextColumn("delivering"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err
        ) as bar:
            task = bar.add_task("deliver", total=due)
            return await worker.drain(progress=lambda n: bar.advance(task, n))
    finally:
        for channel in channels.values():
            await channel.aclose()


def _print_report(report: DrainReport) -> None:
    if report.total == 0 and not report.retrying:
        out.print("Nothing to deliver.", markup=False)
    for label, counter in (("sent", report.sent), ("failed", report.failed), ("retrying later", report.retrying),
                           ("cancelled", report.cancelled)):
        if counter:
            out.print(f"{label}: " + ", ".join(f"{ch} {n}" for ch, n in sorted(counter.items())), markup=False)
    if report.deferred:
        out.print(f"{report.deferred} deliveries wait for a retry; run `newsbot deliver` again later.", markup=False)


@app.command()
def deliver(ctx: typer.Context) -> None:
    """Send everything that is due, then exit."""
    report = _run(_with_newsroom(_settings(ctx), lambda n: deliver_all(n, show_progress=sys.stderr.isatty())))
    _print_report(report)
    if report.failed:
        raise typer.Exit(1)


# --- Subscribers -------------------------------------------------------------------------------------------


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
    """Add a subscriber; an address that already exists gets the topics added instead."""

    async def work(newsroom: Newsroom) -> queries.ImportOutcome:
        subscriber = build_subscriber(
            newsroom.taxonomy,
            telegram_chat=telegram_chat,
            email=email,
            topics=topic,
            confirmed=confirmed,
            cadences=parse_cadence_options(cadence),
        )
        async with newsroom.engine.begin() as conn:
            return await queries.add_subscribers(conn, [subscriber], datetime.now(UTC))

    outcome = _run(_with_newsroom(_settings(ctx), work))
    out.print("Added a subscriber." if outcome.created else "Address already subscribed: topics added.", markup=False)
    if email and not confirmed:
        out.print("The email address gets nothing until it is confirmed (double opt-in).", markup=False)


@subscribers_app.command("list")
def subscribers_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List subscribers with their addresses, cadences and topics."""

    async def work(newsroom: Newsroom) -> list[queries.SubscriberView]:
        async with newsroom.engine.connect() as conn:
            return await queries.list_subscribers(conn)

    views = _run(_with_newsroom(_settings(ctx), work))
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
        err.print("newsbot: error: give exactly one of --telegram-chat, --email or --id", markup=False)
        raise typer.Exit(2)

    async def work(newsroom: Newsroom) -> int:
        async with newsroom.engine.begin() as conn:
            target = subscriber_id
            if target is None:
                key = (
                    (ChannelName.TELEGRAM.value, normalise_chat_id(telegram_chat))
                    if telegram_chat
                    else (ChannelName.EMAIL.value, normalise_email(email or ""))
                )
                target = (await queries.find_subscriber_ids(conn, [key])).get(key)
                if target is None:
                    raise SubscriberNotFound(f"no subscriber with {key[0]} address {key[1]}")
            if not await queries.remove_subscriber(conn, target):
                raise SubscriberNotFound(f"no subscriber with id {target}")
            return target

    removed = _run(_with_newsroom(_settings(ctx), work))
    out.print(f"Removed subscriber {removed} and their data.", markup=False)


@subscribers_app.command("import")
def subscribers_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV with a header: telegram_chat, email, topics (';'-separated), ...")],
    skip_invalid: Annotated[bool, typer.Option(help="Import the valid rows even if some are invalid.")] = False,
) -> None:
    """Import subscribers from CSV; every row is checked first and nothing is imported if any is invalid."""

    async def work(newsroom: Newsroom) -> tuple[int, queries.ImportOutcome | None, list[str]]:
        try:
            text = file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidSubscriber(f"{file}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
        parsed = read_subscribers_csv(text, newsroom.taxonomy)
        problems = [f"{file}:{e}" for e in parsed.errors]
        if problems and not skip_invalid:
            return parsed.rows, None, problems
        async with newsroom.engine.begin() as conn:
            outcome = await queries.add_subscribers(conn, parsed.subscribers, datetime.now(UTC))
        return parsed.rows, outcome, problems

    rows, outcome, problems = _run(_with_newsroom(_settings(ctx), work))
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
        f"{outcome.merged} existing ones updated" + (f", {len(problems)} invalid rows skipped" if problems else "."),
        markup=False,
    )


# --- Database ----------------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply database migrations (newsbot also does this on start)."""

    async def work(settings: Settings) -> str | None:
        engine = create_engine(settings.database_url)
        try:
            return await upgrade_database(engine)
        finally:
            await engine.dispose()

    revision = _run(work(_settings(ctx)))
    out.print(f"Database is at revision {revision}.", markup=False)


# --- Demo --------------------------------------------------------------------------------------------------


@app.command()
def demo(ctx: typer.Context) -> None:
    """Sample readers, the sample story, delivery to file outboxes, and a page showing every message."""
    from bot.demo import run_demo

    report = _run(_with_newsroom(_settings(ctx), run_demo))
    out.print(report.render(), markup=False)
