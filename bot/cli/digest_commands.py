"""``newsbot digest``: queue a week's digest on demand (``newsbot run`` does it on schedule)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from bot.cli.console import app, out, run_command, settings_of, with_newsroom
from bot.outbox.digest_planning import DigestReport, queue_weekly_digests


@app.command()
def digest(
    ctx: typer.Context,
    week: Annotated[
        str | None, typer.Option(help="ISO week such as 2026-W48; default: the last complete week.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count who would get it; queue nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Queue the weekly digest for readers on weekly cadence; a rerun queues nothing new. `newsbot deliver` sends."""
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
