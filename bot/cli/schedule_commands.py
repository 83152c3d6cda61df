"""`newsbot schedule`, `newsbot stop`, `newsbot resume`: when a story goes out, and holding back its send."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from bot.app.newsroom import Newsroom
from bot.cli.console import app, fail, out, run_command, run_report, settings_of, with_newsroom
from bot.editors.audit import cli_actor
from bot.stories.embargo import ScheduleReport, cancel_scheduled_story, parse_publish_at, reschedule_story
from bot.stories.stopping import StopReport, resume_story, stop_story


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


@app.command()
def schedule(
    ctx: typer.Context,
    story_id: Annotated[str, typer.Argument(help="The stored story's id (as `newsbot ingest` printed it).")],
    at: Annotated[
        str | None, typer.Option("--at", help="New moment, with its UTC offset: 2026-12-02T06:00+01:00.")
    ] = None,
    cancel: Annotated[bool, typer.Option(help="Cancel it: nothing of it is sent; the story is kept.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Move or cancel a story's embargo, until it goes out."""
    if (at is None) == (not cancel):
        fail("give either --at TIME or --cancel", code=2)

    async def work(newsroom: Newsroom) -> ScheduleReport:
        if cancel:
            return await cancel_scheduled_story(newsroom, story_id, actor=cli_actor())
        assert at is not None
        return await reschedule_story(newsroom, story_id, parse_publish_at(at), actor=cli_actor())

    report = run_command(with_newsroom(settings_of(ctx), work))
    if as_json:
        print(json.dumps(schedule_json(report), ensure_ascii=False))
        return
    if report.cancelled:
        out.print(f"{report.title}: cancelled; nothing of it will be sent", markup=False)
        out.print(f"  cancelled: {_counts(report.deliveries)}; social posts {report.social_posts}", markup=False)
        return
    after = report.publish_at.isoformat() if report.publish_at else "now"
    # The store gives the old moment in UTC; say it in the offset the editor just used, so the two compare at a glance.
    zone = report.publish_at.tzinfo if report.publish_at else None
    before = report.previous.astimezone(zone).isoformat() if report.previous else "at once"
    out.print(f"{report.title}: goes out {after} (was {before})", markup=False)
    out.print(f"  moved: {_counts(report.deliveries)}; social posts {report.social_posts}", markup=False)


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


def _print_stop(report: StopReport, verb: str) -> None:
    state = "; ".join(report.notes) if report.notes else verb
    out.print(f"{report.title}: {state}", markup=False)
    sent = ", ".join(f"{channel} {sent} of {total}" for channel, (sent, total) in report.sent_of().items())
    out.print(f"  sent: {sent}", markup=False)
    if report.changed:
        label = "held" if verb == "stopped" else "queued again"
        out.print(f"  {label}: {_counts(report.deliveries)}; social posts {report.social_posts}", markup=False)


@app.command()
def stop(
    ctx: typer.Context,
    story_id: Annotated[str, typer.Argument(help="The story whose send to stop.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Stop a story's send: within a second no worker sends another message of it; says what was sent."""

    report = run_report(
        ctx, lambda room: stop_story(room, story_id, actor=cli_actor()), as_json=as_json, to_json=stop_json
    )
    if report is not None:
        _print_stop(report, "stopped")


@app.command()
def resume(
    ctx: typer.Context,
    story_id: Annotated[str, typer.Argument(help="The stopped story to continue.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Continue a stopped story's send where it stopped (nobody gets it twice); a retracted story never resumes."""

    report = run_report(
        ctx, lambda room: resume_story(room, story_id, actor=cli_actor()), as_json=as_json, to_json=stop_json
    )
    if report is not None:
        _print_stop(report, "resumed")
        if report.changed:
            out.print("Run `newsbot deliver` to send what was queued.", markup=False)
