"""`newsbot schedule`, `newsbot stop`, `newsbot resume`: when a story goes out, and holding back its send."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.app.newsroom import Newsroom
from bot.cli.console import JsonFlag, StoryId, app, fail, print_report
from bot.editors.audit import cli_actor
from bot.stories.stopping import StopReport, resume_story, stop_story

if TYPE_CHECKING:  # embargoes queue deliveries (the outbox): imported by the command that moves one
    from bot.stories.embargo import ScheduleReport


def schedule_json(report: ScheduleReport) -> dict[str, Any]:
    return {
        "id": report.story_id,
        "title": report.title,
        "previous": report.previous.isoformat() if report.previous else None,
        "publish_at": report.publish_at.isoformat() if report.publish_at else None,
        "cancelled": report.cancelled,
        "deliveries": report.deliveries,
        "social_posts": report.social_posts,
    }


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{channel} {count}" for channel, count in counts.items())


def schedule_lines(report: ScheduleReport) -> list[str]:
    if report.cancelled:
        return [
            f"{report.title}: cancelled; nothing of it will be sent",
            f"  cancelled: {_counts(report.deliveries)}; social posts {report.social_posts}",
        ]
    after = report.publish_at.isoformat() if report.publish_at else "now"
    # The store gives the old moment in UTC; say it in the offset the editor just used, so the two compare at a glance.
    zone = report.publish_at.tzinfo if report.publish_at else None
    before = report.previous.astimezone(zone).isoformat() if report.previous else "at once"
    return [
        f"{report.title}: goes out {after} (was {before})",
        f"  moved: {_counts(report.deliveries)}; social posts {report.social_posts}",
    ]


@app.command()
def schedule(
    ctx: typer.Context,
    story_id: StoryId,
    at: Annotated[
        str | None, typer.Option("--at", help="New moment, with its UTC offset: 2026-12-02T06:00+01:00.")
    ] = None,
    cancel: Annotated[bool, typer.Option(help="Cancel it: nothing of it is sent; the story is kept.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Move or cancel a story's embargo, until it goes out."""
    from bot.stories.embargo import cancel_scheduled_story, parse_publish_at, reschedule_story

    if (at is None) == (not cancel):
        fail("give either --at TIME or --cancel", code=2)

    async def work(newsroom: Newsroom) -> ScheduleReport:
        if cancel:
            return await cancel_scheduled_story(newsroom, story_id, actor=cli_actor())
        assert at is not None
        return await reschedule_story(newsroom, story_id, parse_publish_at(at), actor=cli_actor())

    print_report(ctx, work, as_json=as_json, to_json=schedule_json, to_lines=schedule_lines)


def stop_json(report: StopReport) -> dict[str, Any]:
    return {
        "id": report.story_id,
        "title": report.title,
        "changed": report.changed,
        "deliveries": report.deliveries,
        "social_posts": report.social_posts,
        "sent_of": {channel: {"sent": sent, "of": total} for channel, (sent, total) in report.sent_of().items()},
        "notes": report.notes,
    }


def _send_lines(report: StopReport, verb: str) -> list[str]:
    """What stopping (*verb* "stopped") or resuming ("resumed") a send did, in words."""
    sent = ", ".join(f"{channel} {sent} of {total}" for channel, (sent, total) in report.sent_of().items())
    lines = [f"{report.title}: {'; '.join(report.notes) if report.notes else verb}", f"  sent: {sent}"]
    if report.changed:
        label = "held" if verb == "stopped" else "queued again"
        lines.append(f"  {label}: {_counts(report.deliveries)}; social posts {report.social_posts}")
        if verb == "resumed":
            lines.append("Run `newsbot deliver` to send what was queued.")
    return lines


def _change_send(
    ctx: typer.Context, change: Callable[..., Awaitable[StopReport]], story_id: str, as_json: bool, verb: str
) -> None:
    print_report(
        ctx,
        lambda room: change(room, story_id, actor=cli_actor()),
        as_json=as_json,
        to_json=stop_json,
        to_lines=lambda report: _send_lines(report, verb),
    )


@app.command()
def stop(ctx: typer.Context, story_id: StoryId, as_json: JsonFlag = False) -> None:
    """Stop a story's send: within a second no worker sends another message of it; says what was sent."""
    _change_send(ctx, stop_story, story_id, as_json, "stopped")


@app.command()
def resume(ctx: typer.Context, story_id: StoryId, as_json: JsonFlag = False) -> None:
    """Continue a stopped story's send where it stopped (nobody gets it twice); a retracted story never resumes."""
    _change_send(ctx, resume_story, story_id, as_json, "resumed")
