"""Controlling a story's send through the API: when it goes (``POST /api/stories/{id}/schedule``), and stopping and
resuming it (``/stop``, ``/resume``). Same token and refusals as the stories API; each is the path the CLI takes.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import Depends
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.app.newsroom import Newsroom
from bot.stories.embargo import cancel_scheduled_story, reschedule_story
from bot.stories.stopping import StopReport, resume_story, stop_story
from bot.web.app_state import newsroom_of
from bot.web.story_requests import STORY_RESPONSES, Moment, answer_from, story_refusals, story_router

router = story_router()


class ScheduleIn(BaseModel):
    """A new moment for the story, or its cancellation."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"publish_at": "2026-12-02T06:00+01:00"}, {"cancel": True}]},
    )

    publish_at: Moment | None = Field(default=None, description="When it goes out; a moment past means now.")
    cancel: bool = Field(default=False, description="Cancel it: nothing of it is sent; the story is kept.")

    @model_validator(mode="after")
    def _one_of(self) -> ScheduleIn:
        if (self.publish_at is None) == (not self.cancel):
            raise ValueError("give either publish_at or cancel: true")
        return self


class ScheduleOut(BaseModel):
    id: str
    previous: datetime | None = Field(description="The embargo before.")
    publish_at: datetime | None = Field(description="When it goes out now (null: cancelled).")
    cancelled: bool
    deliveries: dict[str, int] = Field(description="Queued deliveries moved (or cancelled) per channel.")
    social_posts: int


class SentOf(BaseModel):
    sent: int
    of: int


class StopOut(BaseModel):
    id: str
    changed: bool = Field(description="False when it was already stopped (stop) or not stopped (resume).")
    deliveries: dict[str, int] = Field(description="Messages held (stop) or queued again (resume) per channel.")
    social_posts: int
    sent_of: dict[str, SentOf] = Field(description="Per channel, the story's messages sent so far of all.")
    notes: list[str]


@router.post(
    "/stories/{story_id}/schedule",
    response_model=ScheduleOut,
    responses={**STORY_RESPONSES, 409: {"description": "It already went out or was withdrawn"}},
)
async def post_schedule(
    story_id: str, schedule_in: ScheduleIn, newsroom: Newsroom = Depends(newsroom_of)
) -> ScheduleOut:
    """Move a story's embargo, or cancel it, until it goes out."""
    with story_refusals():
        if schedule_in.cancel:
            report = await cancel_scheduled_story(newsroom, story_id, actor="api")
        else:
            assert schedule_in.publish_at is not None
            report = await reschedule_story(newsroom, story_id, schedule_in.publish_at, actor="api")
    return answer_from(ScheduleOut, report, id=report.story_id)


def _stop_out(report: StopReport) -> StopOut:
    sent_of = {channel: SentOf(sent=sent, of=total) for channel, (sent, total) in report.sent_of().items()}
    return answer_from(StopOut, report, id=report.story_id, sent_of=sent_of)


@router.post("/stories/{story_id}/stop", response_model=StopOut, responses=STORY_RESPONSES)
async def post_stop(story_id: str, newsroom: Newsroom = Depends(newsroom_of)) -> StopOut:
    """Stop the story's send: within a second no worker sends another message of it. Idempotent."""
    with story_refusals():
        report = await stop_story(newsroom, story_id, actor="api")
    return _stop_out(report)


@router.post(
    "/stories/{story_id}/resume",
    response_model=StopOut,
    responses={**STORY_RESPONSES, 409: {"description": "The story was retracted: it never resumes"}},
)
async def post_resume(story_id: str, newsroom: Newsroom = Depends(newsroom_of)) -> StopOut:
    """Continue a stopped story's send where it stopped; nobody gets it twice. Idempotent."""
    with story_refusals():
        report = await resume_story(newsroom, story_id, actor="api")
    return _stop_out(report)
