"""`newsbot correct` and `newsbot retract`: change or withdraw a story after it went out (`bot.stories.corrections`,
`bot.stories.retraction`), the same path as the stories API's PATCH and DELETE."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.app.newsroom import Newsroom
from bot.cli.console import JsonFlag, StoryId, app, print_report
from bot.editors.audit import cli_actor

if TYPE_CHECKING:  # the story pipeline is imported by the commands that run it, not by every `newsbot` start
    from bot.stories.corrections import CorrectionReport
    from bot.stories.retraction import RetractionReport


def correction_json(report: CorrectionReport) -> dict[str, object]:
    return {
        "id": report.story.id,
        "title": report.story.title,
        "changed": report.changed,
        "version": report.story.version,
        "previous_version": report.previous_version,
        "note": report.story.correction_note,
        "edits": report.edits,
        "channel_edits": report.channel_edits,
        "notices": report.notices,
    }


def retraction_json(report: RetractionReport) -> dict[str, object]:
    return {
        "id": report.story.id,
        "title": report.story.title,
        "retracted": report.retracted,
        "cancelled_deliveries": report.cancelled_deliveries,
        "cancelled_posts": report.cancelled_posts,
        "deleted": report.deleted,
        "withdrawn": report.withdrawn,
        "channel_deleted": report.channel_deleted,
        "channel_withdrawn": report.channel_withdrawn,
    }


def correction_lines(report: CorrectionReport, notify: bool) -> list[str]:
    if not report.changed:
        return [f"{report.story.title}  (unchanged: it already reads so, version {report.story.version})"]
    lines = [
        f"{report.story.title}  (version {report.previous_version} → {report.story.version})",
        f"  Telegram copies to edit: {report.edits} in readers' chats, {report.channel_edits} in channels",
    ]
    if notify:
        lines.append(f"  correction notices: {', '.join(f'{channel} {n}' for channel, n in report.notices.items())}")
    return [*lines, "Run `newsbot deliver` (or keep `newsbot run` going) to send them."]


def retraction_lines(report: RetractionReport) -> list[str]:
    if not report.retracted:
        return [f"{report.story.title}  (already retracted; nothing changed)"]
    return [
        f"{report.story.title}  (retracted)",
        f"  not sent, cancelled: {report.cancelled_deliveries} deliveries, {report.cancelled_posts} posts",
        f"  Telegram copies: {report.deleted} to delete, {report.withdrawn} to replace with a notice",
        f"  channel posts: {report.channel_deleted} to delete, {report.channel_withdrawn} to replace",
    ]


@app.command()
def correct(
    ctx: typer.Context,
    story_id: StoryId,
    path: Annotated[Path, typer.Argument(help="The corrected story file (same formats as `newsbot ingest`).")],
    note: Annotated[str | None, typer.Option(help='Shown as "Corrected: ..." with the story.')] = None,
    notify: Annotated[
        bool, typer.Option(help="Also send a short correction to each reader who got it, on that channel.")
    ] = False,
    topic: Annotated[list[str], typer.Option("--topic", "-t", help="Replace the story's topics.")] = [],  # noqa: B006
    as_json: JsonFlag = False,
) -> None:
    """Correct a story: its Telegram copies are edited in place; emails are not changed (see --notify)."""
    from bot.stories.corrections import correct_story
    from bot.stories.parsing import read_story_file

    async def work(newsroom: Newsroom) -> CorrectionReport:
        draft = read_story_file(path, newsroom.settings.max_story_bytes)
        return await correct_story(newsroom, story_id, draft, actor=cli_actor(), note=note, notify=notify, topics=topic)

    print_report(
        ctx, work, as_json=as_json, to_json=correction_json, to_lines=lambda report: correction_lines(report, notify)
    )


@app.command()
def retract(
    ctx: typer.Context,
    story_id: StoryId,
    note: Annotated[
        str | None, typer.Option(help="Shown in the withdrawal notice of copies too old to delete.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Withdraw a story: stop sending it, delete its Telegram copies (notice on those over 48 hours old)."""
    from bot.stories.retraction import retract_story

    print_report(
        ctx,
        lambda room: retract_story(room, story_id, actor=cli_actor(), note=note),
        as_json=as_json,
        to_json=retraction_json,
        to_lines=retraction_lines,
    )
