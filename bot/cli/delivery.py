"""Delivery commands: drain the outbox, and see how delivery is going."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bot.channels import build_channels
from bot.cli.console import app, err, out, run_command, settings_of, with_newsroom
from bot.delivery import DeliveryWorker, DrainReport
from bot.newsroom import Newsroom
from subscribers import queries
from subscribers.schema import Priority


async def deliver_all(newsroom: Newsroom, *, show_progress: bool) -> DrainReport:
    """Drain the outbox through the configured channels, with a progress bar on a terminal."""
    channels = build_channels(newsroom.settings)
    worker = DeliveryWorker(newsroom, channels)
    try:
        async with newsroom.reader.connect() as conn:
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




#: Failures older than this are history, not news, for `newsbot status`.
FAILURE_WINDOW = timedelta(hours=24)


def _priority_name(priority: int) -> str:
    try:
        return Priority(priority).name.lower()
    except ValueError:
        return str(priority)


def status_json(report: queries.DeliveryStatusReport) -> dict[str, object]:
    """`newsbot status --json`: stable keys for monitoring scripts."""
    return {
        "queue": [
            {
                "channel": depth.channel,
                "priority": _priority_name(depth.priority),
                "due": depth.due,
                "waiting_for_retry": depth.waiting,
                "sending": depth.sending,
            }
            for depth in report.queue
        ],
        "sent_last_minute": report.sent_last_minute,
        "messages_per_second": {channel: round(n / 60, 2) for channel, n in report.sent_last_minute.items()},
        "failures_last_24h": [{"reason": reason, "count": count} for reason, count in report.failures],
        "other_failures_last_24h": report.other_failures,
        "deactivated_chats": report.deactivated_chats,
        "bounced_addresses": report.bounced_addresses,
    }


def _print_status(report: queries.DeliveryStatusReport) -> None:
    if report.queue:
        out.print("Queue (due now / waiting for a retry / being sent):", markup=False)
        for depth in report.queue:
            out.print(
                f"  {depth.channel:<9} {_priority_name(depth.priority):<9} "
                f"{depth.due:>8,} / {depth.waiting:,} / {depth.sending:,}",
                markup=False,
            )
    else:
        out.print("Queue: empty.", markup=False)
    sent = ", ".join(f"{channel} {n:,} ({n / 60:.1f}/s)" for channel, n in sorted(report.sent_last_minute.items()))
    out.print(f"Sent in the last minute: {sent}", markup=False)
    if report.failures:
        out.print("Failures in the last 24 hours, by reason:", markup=False)
        for reason, count in report.failures:
            out.print(f"  {count:>8,}  {reason}", markup=False)
        if report.other_failures:
            out.print(f"  {report.other_failures:>8,}  (other reasons)", markup=False)
    else:
        out.print("Failures in the last 24 hours: none.", markup=False)
    out.print(f"Deactivated Telegram chats: {report.deactivated_chats:,}", markup=False)
    out.print(f"Bounced email addresses: {report.bounced_addresses:,}", markup=False)


@app.command()
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Queue depth per channel and priority, the send rate, recent failures by reason, dead addresses."""

    async def work(newsroom: Newsroom) -> queries.DeliveryStatusReport:
        now = datetime.now(UTC)
        async with newsroom.reader.connect() as conn:
            return await queries.delivery_status_report(
                conn, now, sent_since=now - timedelta(minutes=1), failures_since=now - FAILURE_WINDOW
            )

    report = run_command(with_newsroom(settings_of(ctx), work))
    if as_json:
        print(json.dumps(status_json(report), ensure_ascii=False, indent=2))
    else:
        _print_status(report)
