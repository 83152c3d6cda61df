"""`newsbot retag`: add topics to a stored story that has not gone out (one stored with no topic reaches nobody)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.app.newsroom import Newsroom
from bot.cli.console import app, err, out, run_command, settings_of, with_newsroom
from bot.editors.audit import cli_actor
from bot.stories.story import Story

if TYPE_CHECKING:  # retagging queues deliveries (the outbox): imported by the commands that do it
    from bot.stories.retagging import RetagResult


def warn_if_no_topic(story: Story) -> None:
    """One loud line on stderr for a story that nobody will receive."""
    from bot.stories.retagging import no_topic_warning

    warning = no_topic_warning(story)
    if warning is not None:
        err.print(f"newsbot: warning: {warning}", markup=False)


def retag_json(result: RetagResult) -> dict[str, Any]:
    return {
        "id": result.story.id,
        "title": result.story.title,
        "topics": list(result.story.topics),
        "added": list(result.added),
        "retagged": True,
        "recipients": result.recipients,
    }


def print_retag(result: RetagResult) -> None:
    story = result.story
    if result.added:
        state = f"topics added: {', '.join(result.added)}"
    else:
        state = "it already had these topics; nothing new queued"
    out.print(f"{story.title}  ({state})", markup=False, highlight=False)
    out.print(f"  id:       {story.id}", markup=False)
    out.print(f"  topics:   {', '.join(story.topics) or '(none: nobody will receive it)'}", markup=False)
    counts = ", ".join(f"{channel} {count}" for channel, count in result.recipients.items())
    out.print(f"  queued for: {counts}", markup=False)


@app.command()
def retag(
    ctx: typer.Context,
    story_id: Annotated[str, typer.Argument(help="The stored story's id (as `newsbot ingest` printed it).")],
    topic: Annotated[list[str], typer.Option("--topic", "-t", help="Topic to add (slug, name or alias).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Add topics to a stored story that has not gone out, and queue it for their followers."""
    from bot.stories.retagging import retag_story

    async def work(newsroom: Newsroom) -> RetagResult:
        return await retag_story(newsroom, story_id, topic, actor=cli_actor())

    result = run_command(with_newsroom(settings_of(ctx), work))
    if as_json:
        print(json.dumps(retag_json(result), ensure_ascii=False))
    else:
        print_retag(result)
    if result.total_recipients and not as_json:
        out.print("Run `newsbot deliver` to send what was queued.", markup=False)
