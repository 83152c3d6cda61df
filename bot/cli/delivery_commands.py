"""Delivery commands: drain the outbox, retry what failed or waits, and see how delivery is going."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bot.app.errors import StoryNotFound
from bot.app.newsroom import Newsroom
from bot.channels import build_channels, close_channels
from bot.cli.console import app, err, fail, out, run_command, settings_of, with_newsroom
from bot.outbox.delivery_pump import STOP_GRACE_SECONDS
from subscribers import channel_health, deliveries, delivery_retry, stories, story_changes, story_states
from subscribers import status as status_store
from subscribers.channel_health import ChannelOutage
from subscribers.schema import ChannelName, Priority

if TYPE_CHECKING:  # the worker renders and sends: imported by `newsbot deliver`, not by `newsbot status`
    from bot.outbox.worker import DrainReport


async def deliver_all(newsroom: Newsroom, *, show_progress: bool) -> tuple[DrainReport, Path | None]:
    """Drain the outbox through the configured channels, with a progress bar on a terminal; where a channel writes
    to a file outbox, the outbox preview (``index.html``) is refreshed afterwards and its path returned.

    The first SIGINT or SIGTERM stops claiming, lets the sends in flight finish (up to ``STOP_GRACE_SECONDS``),
    records them and returns; a second one exits at once (what it leaves claimed goes back on the next run).
    """
    from bot.outbox.worker import DeliveryWorker
    from bot.rendering.gallery import write_gallery, writes_to_files

    channels = build_channels(newsroom.settings)
    worker = DeliveryWorker(newsroom, channels, clock=newsroom.clock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            err.print(f"{name} again: exiting now; unrecorded sends go back to the queue on the next run", markup=False)
            sys.stderr.flush()
            os._exit(128 + signum)
        err.print(
            f"{name} received: finishing the sends in flight (up to {STOP_GRACE_SECONDS:g} s); again to exit at once",
            markup=False,
        )
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        async with newsroom.reader.connect() as conn:
            due = await deliveries.count_due_deliveries(conn, worker.clock.now())
        if not show_progress or due == 0:
            report = await worker.drain(stop=stop)
        else:
            with Progress(
                TextColumn("delivering"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err
            ) as bar:
                task = bar.add_task("deliver", total=due)
                report = await worker.drain(progress=lambda n: bar.advance(task, n), stop=stop)
        page = None
        if writes_to_files(channels) and report.total:
            page = await asyncio.to_thread(write_gallery, newsroom.renderer.environment, newsroom.settings.outbox_dir)
        return report, page
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await close_channels(channels)


def _when(moment: datetime, now: datetime) -> str:
    """ "08:20:03 UTC (in 5 min)": a time an operator can act on, with how far away it is."""
    seconds = (moment - now).total_seconds()
    if seconds <= 0:
        distance = "now"
    elif seconds < 90:
        distance = f"in {seconds:.0f} s"
    elif seconds < 90 * 60:
        distance = f"in {seconds / 60:.0f} min"
    else:
        distance = f"in {seconds / 3600:.1f} h"
    day = "" if moment.date() == now.date() else f"{moment:%Y-%m-%d} "
    return f"{day}{moment:%H:%M:%S} UTC ({distance})"


def _outage_line(outage: ChannelOutage, now: datetime) -> str:
    waiting = f"{outage.waiting:,} {'delivery waits' if outage.waiting == 1 else 'deliveries wait'}"
    return (
        f"{outage.channel} unreachable since {outage.since:%Y-%m-%d %H:%M:%S} UTC ({outage.last_error}); "
        f"{waiting} for it, next try at {_when(outage.next_probe_at, now)}"
    )


def _print_report(report: DrainReport, now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)
    if report.total == 0 and not report.retrying and not report.deferred and not report.stopped:
        out.print("Nothing to deliver.", markup=False)
    for label, counter in (
        ("sent", report.sent),
        ("failed", report.failed),
        ("retrying later", report.retrying),
        ("cancelled", report.cancelled),
    ):
        if counter:
            out.print(f"{label}: " + ", ".join(f"{ch} {n}" for ch, n in sorted(counter.items())), markup=False)
    if report.stopped:
        out.print("Stopped on request: what was in flight is recorded, the rest stays queued.", markup=False)
    for outage in report.outages.values():
        out.print(_outage_line(outage, now), markup=False)
    if report.deferred:
        first = f"; the first is due at {_when(report.next_due, now)}" if report.next_due else ""
        many = "delivery waits" if report.deferred == 1 else "deliveries wait"
        out.print(
            f"{report.deferred:,} {many}{first}: run `newsbot deliver` again then, or keep `newsbot run` going.",
            markup=False,
        )


@app.command()
def deliver(ctx: typer.Context) -> None:
    """Send everything that is due, then exit."""
    report, page = run_command(
        with_newsroom(settings_of(ctx), lambda n: deliver_all(n, show_progress=sys.stderr.isatty()))
    )
    _print_report(report)
    if page is not None:
        out.print(f"Every rendered message: {page}", markup=False)
    if report.failed:
        raise typer.Exit(1)


@app.command()
def retry(
    ctx: typer.Context,
    story: Annotated[str | None, typer.Option("--story", help="Only this story's deliveries.")] = None,
    channel: Annotated[str | None, typer.Option("--channel", help="Only this channel: telegram or email.")] = None,
) -> None:
    """Make failed and waiting deliveries due now; one that was sent is never sent again."""
    names = [name.value for name in ChannelName]
    if channel is not None and channel not in names:
        fail(f"unknown channel {channel!r} (use {' or '.join(names)})")

    async def work(newsroom: Newsroom) -> tuple[dict[str, int], dict[str, ChannelOutage]]:
        now = newsroom.clock.now()
        async with newsroom.engine.begin() as conn:
            if story is not None and not await stories.story_exists(conn, story):
                raise StoryNotFound(f"no story with id {story!r} (see `newsbot stories` or the audit log)")
            counts = await delivery_retry.retry_deliveries(conn, now, story_id=story, channel=channel)
            outages = await channel_health.outages(conn, count_waiting=True)
        return counts, outages

    counts, outages = run_command(with_newsroom(settings_of(ctx), work))
    scope = "".join([f" of story {story}" if story else "", f" on {channel}" if channel else ""])
    total = sum(counts.values())
    if total:
        by_channel = ", ".join(f"{name} {n:,}" for name, n in sorted(counts.items()))
        many = "delivery" if total == 1 else "deliveries"
        out.print(f"{total:,} {many}{scope} {'is' if total == 1 else 'are'} due now ({by_channel}).", markup=False)
    else:
        out.print(f"Nothing to retry{scope}: no failed or waiting deliveries.", markup=False)
    for outage in outages.values():
        if channel in (None, outage.channel):
            out.print(f"{outage.channel} was unreachable: it is tried again now.", markup=False)
    if total or outages:
        out.print("`newsbot deliver` (or a running `newsbot run`) sends them.", markup=False)


#: Failures older than this are history, not news, for `newsbot status`.
FAILURE_WINDOW = timedelta(hours=24)


def _priority_name(priority: int) -> str:
    try:
        return Priority(priority).name.lower()
    except ValueError:
        return str(priority)


def status_json(
    report: status_store.DeliveryStatusReport, outages: dict[str, ChannelOutage] | None = None
) -> dict[str, object]:
    """`newsbot status --json`: stable keys for monitoring scripts."""
    return {
        "unreachable_channels": [
            {
                "channel": outage.channel,
                "since": outage.since.isoformat(),
                "last_error": outage.last_error,
                "waiting": outage.waiting,
                "next_try_at": outage.next_probe_at.isoformat(),
            }
            for outage in (outages or {}).values()
        ],
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


def _print_status(report: status_store.DeliveryStatusReport, outages: dict[str, ChannelOutage], now: datetime) -> None:
    if outages:
        out.print("Unreachable channels (paused, nothing is marked failed until NEWSBOT_RETRY_FOR):", markup=False)
        for outage in outages.values():
            out.print(f"  {_outage_line(outage, now)}", markup=False)
    else:
        out.print("Unreachable channels: none.", markup=False)
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

    async def work(
        newsroom: Newsroom,
    ) -> tuple[status_store.DeliveryStatusReport, dict[str, ChannelOutage], StoryLife, datetime]:
        now = newsroom.clock.now()
        async with newsroom.reader.connect() as conn:
            report = await status_store.delivery_status_report(
                conn, now, sent_since=now - timedelta(minutes=1), failures_since=now - FAILURE_WINDOW
            )
            outages = await channel_health.outages(conn, count_waiting=True)
            life = StoryLife(await story_states.story_life_counts(conn, now), await story_changes.change_totals(conn))
            return report, outages, life, now

    report, outages, life, now = run_command(with_newsroom(settings_of(ctx), work))
    report = paused_queue(report, outages)
    if as_json:
        print(json.dumps(status_json(report, outages) | life.as_json(), ensure_ascii=False, indent=2))
    else:
        _print_status(report, outages, now)
        life.print()


@dataclasses.dataclass(frozen=True)
class StoryLife:
    """What `newsbot status` adds about stories' lives: embargoes, stops, and the changes to sent messages."""

    stories: story_states.StoryLifeCounts
    #: edit, correction, delete, withdraw -> status -> rows
    changes: dict[str, dict[str, int]]

    def as_json(self) -> dict[str, object]:
        counts = self.stories
        return {
            "scheduled_stories": counts.scheduled,
            "next_scheduled": {
                "story": counts.next_story_id,
                "publish_at": counts.next_publish_at.isoformat() if counts.next_publish_at else None,
            },
            "stopped_stories": counts.stopped,
            "stopped_deliveries": counts.stopped_deliveries,
            "stopped_social_posts": counts.stopped_posts,
            "message_changes": self.changes,
        }

    def print(self) -> None:
        counts = self.stories
        if counts.scheduled:
            when = f"{counts.next_publish_at:%Y-%m-%d %H:%M} UTC" if counts.next_publish_at else "?"
            out.print(f"Scheduled stories: {counts.scheduled:,} (next: {counts.next_story_id} at {when})", markup=False)
        else:
            out.print("Scheduled stories: none.", markup=False)
        if counts.stopped:
            out.print(
                f"Stopped stories: {counts.stopped:,}, holding {_count(counts.stopped_deliveries, 'delivery')} and "
                f"{_count(counts.stopped_posts, 'social post')} (`newsbot resume STORY_ID` sends them).",
                markup=False,
            )
        changes = {kind: by_status for kind, by_status in self.changes.items() if by_status}
        if not changes:
            out.print("Changes to sent messages: none.", markup=False)
            return
        out.print(
            "Changes to sent messages (edits, correction notices, deletions, withdrawals) by status:", markup=False
        )
        for kind, by_status in changes.items():
            listed = ", ".join(f"{status} {n:,}" for status, n in sorted(by_status.items()))
            out.print(f"  {kind:<10} {listed}", markup=False)


def _count(number: int, noun: str) -> str:
    """ "1 delivery", "2 deliveries", "0 social posts"."""
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{number:,} {noun if number == 1 else plural}"


def paused_queue(
    report: status_store.DeliveryStatusReport, outages: dict[str, ChannelOutage]
) -> status_store.DeliveryStatusReport:
    """On a paused channel nothing is due now: what would be counts as waiting (for the channel to come back)."""
    queue = [
        dataclasses.replace(depth, due=0, waiting=depth.waiting + depth.due) if depth.channel in outages else depth
        for depth in report.queue
    ]
    return dataclasses.replace(report, queue=queue)
