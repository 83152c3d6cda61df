"""Story commands: ingest, preview, topics."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from bot.app.config import Settings
from bot.app.newsroom import Newsroom
from bot.cli.console import app, fail, out, run_command, settings_of, with_newsroom
from bot.cli.retag_commands import print_retag, retag_json, warn_if_no_topic
from bot.editors.audit import cli_actor
from bot.stories.story import Story
from bot.topics.taxonomy import Taxonomy
from subscribers import stories as stories_store
from subscribers.schema import ChannelName

if TYPE_CHECKING:  # parsing, intake and rendering are imported by the commands that use them, not at every start
    from bot.stories.intake import IngestResult
    from bot.stories.retagging import RetagResult


def _story_json(result: IngestResult) -> dict[str, Any]:
    return {
        **result.story.overview(),
        "publish_at": result.story.publish_at.isoformat() if result.story.publish_at else None,
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
    out.print(Text.assemble((story.title, "bold"), f"  ({state})"))
    out.print(f"  id:       {story.id}", markup=False)
    out.print(f"  topics:   {', '.join(story.topics) or '(none: nobody will receive it)'}", markup=False)
    out.print(f"  breaking: {'yes' if story.breaking else 'no'}", markup=False)
    out.print(f"  language: {story.language or '(none)'}", markup=False)
    if story.publish_at is not None:
        out.print(f"  goes out: {story.publish_at.isoformat()} (embargo; nothing is sent before)", markup=False)
    out.print(f"  summary:  {story.summary}", markup=False)
    verb = "would reach" if result.dry_run else "queued for"
    counts = ", ".join(f"{channel} {count}" for channel, count in result.recipients.items())
    out.print(f"  {verb}: {counts}", markup=False)


def _prepare_all(
    newsroom: Newsroom,
    paths: list[Path],
    topics: list[str],
    breaking: bool,
    publish_at: datetime | None = None,
    language: str | None = None,
) -> list[Story]:
    """Parse and tag every file before storing any, so one bad file leaves nothing half-ingested.

    *publish_at* (``--at``) replaces the embargo of every story, front matter included, and *language*
    (``--language``, already checked) the language.
    """
    from bot.stories.intake import prepare_for
    from bot.stories.parsing import read_story_file

    limit = newsroom.settings.max_story_bytes
    drafts = [read_story_file(path, limit) for path in paths]
    if language is not None:
        drafts = [dataclasses.replace(draft, language=language) for draft in drafts]
    prepared = [prepare_for(newsroom, d, extra_topics=topics, breaking=breaking, source="cli") for d in drafts]
    if publish_at is None:
        return prepared
    return [dataclasses.replace(story, publish_at=publish_at) for story in prepared]


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Story files: plain text, or Markdown with front matter.")],
    topic: Annotated[list[str], typer.Option("--topic", "-t", help="Topic to add (slug, name or alias).")] = [],  # noqa: B006
    breaking: Annotated[bool, typer.Option(help="Mark as breaking news: weekly-cadence chats get it now too.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Parse, tag and count recipients; store and send nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per story on stdout.")] = False,
    retag: Annotated[
        bool,
        typer.Option(help="A story already stored (same id) gets these topics added, if it has not gone out yet."),
    ] = False,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="Embargo: send nothing before this moment, with its UTC offset (2026-12-02T06:00+01:00); "
            "a moment past means now.",
        ),
    ] = None,
    language: Annotated[
        str | None,
        typer.Option(
            help="The language the stories are written in (en, de, es, fr ...), replacing their front matter's; "
            "default: NEWSBOT_DEFAULT_LANGUAGE."
        ),
    ] = None,
) -> None:
    """Parse, tag and summarise stories, store them and queue them for their readers."""
    from bot.stories.embargo import parse_publish_at
    from bot.stories.intake import publish_story
    from bot.stories.parsing import check_story_language
    from bot.stories.retagging import RetagResult, retag_story

    if retag and dry_run:
        fail("--retag changes a stored story; it cannot be combined with --dry-run", code=2)

    async def work(newsroom: Newsroom) -> list[IngestResult | RetagResult]:
        publish_at = parse_publish_at(at) if at is not None else None
        code = check_story_language(language, "--language") if language is not None else None
        stories = _prepare_all(newsroom, paths, topic, breaking, publish_at, code)
        results: list[IngestResult | RetagResult] = []
        for story in stories:
            if retag and await _is_stored(newsroom, story.id):
                results.append(await retag_story(newsroom, story.id, story.topics, actor=cli_actor()))
                continue
            # publish_story: ingest, plus social posts and the audit entry (bot.stories.intake)
            results.append((await publish_story(newsroom, story, actor=cli_actor(), dry_run=dry_run)).ingested)
        return results

    results = run_command(with_newsroom(settings_of(ctx), work))
    for result in results:
        if isinstance(result, RetagResult):
            if as_json:
                print(json.dumps(retag_json(result), ensure_ascii=False))
            else:
                print_retag(result)
        elif as_json:
            print(json.dumps(_story_json(result), ensure_ascii=False))
        else:
            _print_story(result)
        warn_if_no_topic(result.story)
    queued = any(r.total_recipients if isinstance(r, RetagResult) else r.created for r in results)
    if not as_json and not dry_run and queued:
        out.print("Run `newsbot deliver` to send what was queued.", markup=False)


async def _is_stored(newsroom: Newsroom, story_id: str) -> bool:
    async with newsroom.reader.connect() as conn:
        return await stories_store.story_exists(conn, story_id)


@app.command()
def preview(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Story file to render.")],
    channel: Annotated[ChannelName, typer.Option(help="Which message to render.")] = ChannelName.TELEGRAM,
    topic: Annotated[list[str], typer.Option("--topic", "-t", help="Topic to add.")] = [],  # noqa: B006
) -> None:
    """Render a story as readers would get it, without storing or sending anything; prints the file written."""
    from bot.rendering.email_message import EmailTemplate

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

    for written in run_command(with_newsroom(settings_of(ctx), work)):
        print(written)


@app.command()
def topics(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the taxonomy as JSON.")] = False,
) -> None:
    """List the topics readers can follow."""
    settings = settings_of(ctx)
    taxonomy = run_command(_load_taxonomy(settings))
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
