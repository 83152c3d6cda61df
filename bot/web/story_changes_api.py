"""Changing a story after it went out through the API: ``PATCH /api/stories/{id}`` corrects it and
``DELETE /api/stories/{id}`` retracts it. Same token and refusals as the stories API; each is the path the CLI
takes (`bot.stories.corrections`, `bot.stories.retraction`)."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from bot.app.newsroom import Newsroom
from bot.stories.corrections import correct_story
from bot.stories.parsing import parse_story
from bot.stories.retraction import retract_story
from bot.web.app_state import newsroom_of
from bot.web.story_requests import (
    STORY_RESPONSES,
    Headline,
    StoryTextIn,
    Text,
    answer_from,
    check_topics,
    story_refusals,
    story_router,
)

router = story_router()


class CorrectionIn(StoryTextIn):
    """The corrected story: its text as for a new story, and how to tell readers."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [{"body": "The city council on Friday approved ...", "note": "The budget is 21 million."}]
        },
    )

    title: Headline = None
    body: Text = Field(min_length=1, description="The corrected story, as for a new one.")
    url: Text | None = Field(default=None, max_length=2000, description="Absolute http(s) link; absent: kept.")
    topics: list[Text] = Field(
        default_factory=list, max_length=30, description="Replace the story's topics (empty: keep them)."
    )
    note: Text | None = Field(default=None, max_length=500, description='Shown as "Corrected: ..." with the story.')
    notify: bool = Field(
        default=False, description="Also send a short correction to each reader who got it, on that channel."
    )


class CorrectionOut(BaseModel):
    id: str
    changed: bool = Field(description="False when it already read so: nothing was changed or queued.")
    version: int
    previous_version: int
    edits: int = Field(description="Telegram copies in readers' chats queued for an edit in place.")
    channel_edits: int = Field(description="The same for the outlet's channels.")
    notices: dict[str, int] = Field(description="Correction notices queued per channel (with notify).")


class RetractionOut(BaseModel):
    id: str
    retracted: bool = Field(description="False when it was retracted already: nothing changed.")
    cancelled_deliveries: int
    cancelled_posts: int
    deleted: int = Field(description="Telegram copies younger than 48 hours, queued for deletion.")
    withdrawn: int = Field(description="Older copies, queued to be replaced by a withdrawal notice.")
    channel_deleted: int
    channel_withdrawn: int


@router.patch(
    "/stories/{story_id}",
    response_model=CorrectionOut,
    responses={
        **STORY_RESPONSES,
        409: {"description": "The story was retracted, or corrected by someone else just now"},
    },
)
async def patch_story(
    story_id: str, correction: CorrectionIn, newsroom: Newsroom = Depends(newsroom_of)
) -> CorrectionOut:
    """Correct a story: its Telegram copies are edited in place; emails cannot change (see ``notify``)."""
    with story_refusals(correction.body):
        draft = parse_story(correction.body, max_bytes=newsroom.settings.max_story_bytes)
    draft = dataclasses.replace(draft, title=correction.title or draft.title, url=correction.url or draft.url)
    check_topics(newsroom, correction.topics)
    with story_refusals(correction.body):
        report = await correct_story(
            newsroom,
            story_id,
            draft,
            actor="api",
            note=correction.note,
            notify=correction.notify,
            topics=correction.topics,
        )
    return answer_from(CorrectionOut, report, id=report.story.id, version=report.story.version)


@router.delete("/stories/{story_id}", response_model=RetractionOut, responses=STORY_RESPONSES)
async def delete_story(
    story_id: str,
    note: Annotated[str | None, Query(max_length=500, description="Shown in the withdrawal notice.")] = None,
    newsroom: Newsroom = Depends(newsroom_of),
) -> RetractionOut:
    """Retract a story: nothing more is sent, young Telegram copies are deleted and older ones replaced."""
    with story_refusals():
        report = await retract_story(newsroom, story_id, actor="api", note=note)
    return answer_from(RetractionOut, report, id=report.story.id)
