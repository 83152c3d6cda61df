"""Delivery commands: drain the outbox."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bot.channels import build_channels
from bot.cli.console import app, err, out, run_command, settings_of, with_newsroom
from bot.delivery import DeliveryWorker, DrainReport
from bot.newsroom import Newsroom
from subscribers import queries


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
    report = run_command(with_newsroom(settings_of(ctx), lambda n: deliver_all(n, show_progress=sys.stderr.isatty())))
    _print_report(report)
    if report.failed:
        raise typer.Exit(1)


