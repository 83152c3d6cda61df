"""``newsbot digest``: queue a week's digest on demand (``newsbot run`` does it on schedule), or preview one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.console import app, out, run_command, settings_of, with_newsroom
from bot.outbox.digest_planning import DigestReport, queue_weekly_digests

if TYPE_CHECKING:  # previews render (Jinja, MJML): imported when one is asked for
    from bot.outbox.digest_preview import DigestPreview


@app.command()
def digest(
    ctx: typer.Context,
    week: Annotated[
        str | None,
        typer.Option(help="ISO week such as 2026-W48; default: the last complete week (with --preview: this week)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count who would get it; queue nothing.")] = False,
    preview: Annotated[
        bool,
        typer.Option("--preview", help="Render the digest (this week's so far) for a reader or topics; queue nothing."),
    ] = False,
    topics: Annotated[
        str | None, typer.Option(help="With --preview: comma-separated topics (default: every topic).")
    ] = None,
    reader: Annotated[
        str | None, typer.Option(help="With --preview: a reader's email address or Telegram chat id.")
    ] = None,
    channel: Annotated[
        str, typer.Option(help="With --preview: telegram (printed) or email (written to a file).")
    ] = "telegram",
    output: Annotated[
        Path | None, typer.Option(help="With --preview --channel email: where to write the HTML.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Queue the weekly digest for readers on weekly cadence whose own week is over; a rerun queues nothing new.
    `newsbot deliver` sends."""
    if preview:
        _preview(ctx, week, topics, reader, channel, output, as_json)
        return
    report: DigestReport = run_command(
        with_newsroom(
            settings_of(ctx),
            lambda newsroom: queue_weekly_digests(newsroom, week, dry_run=dry_run, clock=newsroom.clock),
        )
    )
    if as_json:
        print(
            json.dumps(
                {
                    "week": report.week,
                    "label": report.label,
                    "stories": report.stories,
                    "queued": report.queued,
                    "dry_run": report.dry_run,
                    "waiting": report.waiting,
                }
            )
        )
        return
    out.print(f"Digest {report.week} ({report.label}): {report.stories} stories that week.", markup=False)
    counts = ", ".join(f"{channel} {count}" for channel, count in report.queued.items())
    if report.dry_run:
        out.print(f"Dry run, nothing queued; would queue: {counts}.", markup=False)
    elif report.total:
        out.print(f"Queued: {counts}. `newsbot deliver` sends them.", markup=False)
    else:
        out.print("Nothing new to queue: every reader with news that week already has this digest.", markup=False)
    if report.total_waiting:
        waiting = ", ".join(f"{channel} {count}" for channel, count in report.waiting.items())
        out.print(f"Still waiting for their own week to end (`newsbot run` queues them then): {waiting}.", markup=False)


def _preview(
    ctx: typer.Context,
    week: str | None,
    topics: str | None,
    reader: str | None,
    channel: str,
    output: Path | None,
    as_json: bool,
) -> None:
    from bot.outbox.digest_preview import preview_digest

    names = [name.strip() for name in (topics or "").split(",") if name.strip()]
    result: DigestPreview = run_command(
        with_newsroom(
            settings_of(ctx),
            lambda newsroom: preview_digest(
                newsroom, week=week, topics=names, reader=reader, channel=channel.strip().lower(), output=output
            ),
        )
    )
    shown = result.content.shown if result.content else 0
    if as_json:
        print(
            json.dumps(
                {
                    "week": result.week.key,
                    "label": result.week.label,
                    "for": result.audience,
                    "channel": result.channel,
                    "stories": shown,
                    "messages": list(result.telegram),
                    "path": str(result.email_path) if result.email_path else None,
                    "queued": 0,
                }
            )
        )
        return
    head = f"Digest preview {result.week.key} ({result.week.label}) for {result.audience}"
    if result.content is None:
        out.print(f"{head}: no stories for these topics yet; nothing queued.", markup=False)
        return
    out.print(f"{head}: {shown} stories; nothing queued.", markup=False)
    if result.email_path is not None:
        size = result.email_path.stat().st_size / 1000
        out.print(f"Email HTML ({size:.1f} KB) written to {result.email_path}", markup=False)
        return
    for index, message in enumerate(result.telegram, start=1):
        if len(result.telegram) > 1:
            out.print(f"--- message {index} of {len(result.telegram)} ---", markup=False)
        out.print(message, markup=False)
