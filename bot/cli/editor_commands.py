"""Editor commands: push a breaking story, read the audit log, poll feeds and send social posts once."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from bot.app.newsroom import Newsroom
from bot.channels import build_channels, close_channels
from bot.cli.console import app, out, run_command, settings_of, with_newsroom
from bot.cli.retag_commands import warn_if_no_topic
from bot.editors.audit import cli_actor, list_audit
from bot.stories.story import Story

if TYPE_CHECKING:  # intake, feeds and posting are imported by the commands that use them, not at every start
    from bot.outbox.social import PostingReport
    from bot.stories.feeds import FeedsReport
    from bot.stories.intake import Publication

_LINK = re.compile(r'<a href="([^"]*)">(.*?)</a>', re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


def reader_view(telegram_html: str) -> str:
    """The Telegram message as a reader sees it, for a terminal: formatting dropped, links shown after their text."""
    return html.unescape(_TAG.sub("", _LINK.sub(r"\2 (\1)", telegram_html)))


@app.command()
def push(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The story: plain text, or Markdown with front matter.")],
    topic: Annotated[list[str], typer.Option("--topic", "-t", help="Topic to add (slug, name or alias).")] = [],  # noqa: B006
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Send without asking for confirmation.")] = False,
) -> None:
    """Push a breaking story: shows the message and who would get it now, asks, then queues it for them."""
    from bot.stories.intake import prepare_for, publish_story
    from bot.stories.parsing import read_story_file

    settings = settings_of(ctx)

    async def preview(newsroom: Newsroom) -> tuple[Story, str, Publication]:
        draft = read_story_file(path, settings.max_story_bytes)
        story = prepare_for(newsroom, draft, extra_topics=topic, breaking=True, source="cli")
        message = newsroom.renderer.telegram_message(story)
        return story, message, await publish_story(newsroom, story, actor=cli_actor(), dry_run=True)

    story, message, planned = run_command(with_newsroom(settings, preview))
    out.print("This is what readers will get:\n", markup=False)
    out.print(reader_view(message), markup=False)
    out.print("", markup=False)
    out.print(f"  topics:  {', '.join(story.topics) or '(none: nobody will receive it)'}", markup=False)
    out.print(f"  language: {story.language}", markup=False)
    warn_if_no_topic(story)
    counts = ", ".join(f"{channel} {n}" for channel, n in planned.recipients.items())
    out.print(f"  readers now: {counts} (total {planned.total_recipients})", markup=False)
    if planned.social:
        out.print(f"  social:  {', '.join(d.label for d in planned.social)}", markup=False)
    if not planned.created:
        out.print("Already published earlier: nothing new would be sent.", markup=False)
        return
    total = planned.total_recipients
    if not yes and not typer.confirm(f"Send this breaking story to {total} reader{'' if total == 1 else 's'} now?"):
        out.print("Nothing was sent.", markup=False)
        raise typer.Exit(1)

    published = run_command(with_newsroom(settings, lambda newsroom: publish_story(newsroom, story, actor=cli_actor())))
    if not published.created:
        out.print("Already published meanwhile: nothing new was sent.", markup=False)
        return
    counts = ", ".join(f"{channel} {n}" for channel, n in published.recipients.items())
    out.print(f"Pushed {story.id}: queued for {counts}; {len(published.social)} social posts.", markup=False)
    out.print("`newsbot run` sends it now; or run `newsbot deliver` and `newsbot social`.", markup=False)


@app.command()
def audit(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    limit: Annotated[int, typer.Option(help="How many entries, newest first.", min=1)] = 50,
) -> None:
    """The audit log: who pushed, ingested or cancelled what, when, and to how many readers."""

    async def work(newsroom: Newsroom) -> list:
        async with newsroom.reader.connect() as conn:
            return await list_audit(conn, limit)

    entries = run_command(with_newsroom(settings_of(ctx), work))
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "at": e.at.isoformat(),
                        "actor": e.actor,
                        "action": e.action,
                        "subject": e.subject,
                        "recipients": e.recipients,
                        "details": json.loads(e.details) if e.details else None,
                    }
                    for e in entries
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    if not entries:
        out.print("The audit log is empty.", markup=False)
        return
    table = Table("when (UTC)", "who", "what", "story", "readers")
    for e in entries:
        recipients = "" if e.recipients is None else str(e.recipients)
        table.add_row(f"{e.at:%Y-%m-%d %H:%M:%S}", e.actor, e.action, e.subject or "", recipients)
    out.print(table)


@app.command()
def feeds(ctx: typer.Context) -> None:
    """Poll the feeds in NEWSBOT_FEEDS once and ingest their new entries (for cron; `newsbot run` polls itself)."""
    from bot.stories.feeds import poll_feeds

    report: FeedsReport = run_command(with_newsroom(settings_of(ctx), poll_feeds))
    if not report.results:
        out.print("No feeds configured (NEWSBOT_FEEDS).", markup=False)
    for result in report.results:
        detail = result.error if result.status == "failed" else f"{len(result.ingested)} new stories"
        out.print(f"{result.url}: {result.status}, {detail}", markup=False)
    if report.failed:
        raise typer.Exit(1)


@app.command()
def social(ctx: typer.Context) -> None:
    """Send the social posts that are due (Telegram channels, Apprise networks), then exit."""
    from bot.outbox.social import SocialPoster

    async def work(newsroom: Newsroom) -> PostingReport:
        channels = build_channels(newsroom.settings, only=["telegram"])
        try:
            return await SocialPoster(newsroom, channels["telegram"], clock=newsroom.clock).drain()
        finally:
            await close_channels(channels)

    report = run_command(with_newsroom(settings_of(ctx), work))
    out.print(
        f"social posts: {report.sent} sent, {report.retrying} to retry later, {report.failed} failed, "
        f"{report.cancelled} cancelled",
        markup=False,
    )
    if report.failed:
        raise typer.Exit(1)
