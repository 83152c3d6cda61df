"""The stories API: a CMS or a wire desk posts stories; newsbot tags, plans and publishes them.

``POST /api/stories`` with ``Authorization: Bearer $NEWSBOT_API_TOKEN`` and a JSON body
``{title?, body, url?, image_url?, topics?, breaking?, external_id?, publish_at?, language?}`` answers with the story
id, its topics, summary and the readers planned per channel (201 when new, 200 when the story, or its
``external_id``, was already there: retrying is safe). ``GET /api/stories/{id}`` returns the story with its
delivery counts and social posts.
The schema is served at ``/openapi.json`` and browsable at ``/docs``.

Refusals, none of which writes anything: no token configured, 503 (the API is off until a token is set); a
missing or wrong token, 401 (checked before the body is read, compared in constant time); a body larger than
``NEWSBOT_MAX_API_BODY_BYTES``, 413 (checked while reading, before parsing); a body that is not UTF-8 JSON, and
invalid fields, 422 naming the field. Fields are strictly typed (``"breaking": 0`` is not a boolean) and text
must be valid Unicode (a lone surrogate such as ``"\ud800"`` cannot be stored or sent).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from fastapi import Depends, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.app.cpu_pool import off_loop
from bot.app.errors import StoryNotFound
from bot.app.newsroom import Newsroom
from bot.languages.language_codes import EXAMPLES, language_code
from bot.stories.intake import prepare_off_loop, publish_story
from bot.stories.parsing import parse_story
from bot.stories.retagging import no_topic_warning, retag_story
from bot.stories.story import Story
from bot.web.app_state import newsroom_of
from bot.web.story_requests import (
    STORY_RESPONSES,
    Headline,
    Moment,
    StoryTextIn,
    Text,
    check_topics,
    invalid,
    story_refusals,
    story_router,
)
from subscribers import deliveries as deliveries_store
from subscribers import social_posts as social_posts_store
from subscribers import status as status_store
from subscribers import stories, story_changes, story_states


class StoryIn(StoryTextIn):
    """A story as a CMS sends it."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,  # no coercion: "breaking": 0 or "topics": "local" is an error, not a guess
        json_schema_extra={
            "examples": [
                {
                    "title": "Council passes the 2027 budget",
                    "body": "The city council on Friday approved the 2027 budget ...",
                    "url": "https://fairview-gazette.example/council-budget",
                    "topics": ["local"],
                    "breaking": False,
                    "external_id": "cms-48213",
                }
            ]
        },
    )

    title: Headline = None
    body: Text = Field(min_length=1, description="Plain text or Markdown (optional front matter); no HTML.")
    url: Text | None = Field(default=None, max_length=2000, description="Absolute http(s) link to the full story.")
    topics: list[Text] = Field(
        default_factory=list, max_length=30, description="Topic slugs, names or aliases; the tagger adds more."
    )
    breaking: bool = Field(default=False, description="Breaking news: weekly-cadence chats get it now too.")
    external_id: Text | None = Field(
        default=None, min_length=1, max_length=200, description="Your own id; posting it again changes nothing."
    )
    publish_at: Moment | None = Field(
        default=None,
        description="Embargo: nothing is sent or posted before this moment (ISO 8601 with its UTC offset, "
        "e.g. 2026-12-02T06:00+01:00); a moment past means now. Replaces a publish_at of the body's front matter.",
    )

    updates: Text | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The id of a stored story this one follows up: it also reaches that story's readers, in "
        "Telegram as a reply to their copy. Replaces an updates of the body's front matter.",
    )
    image_url: Text | None = Field(
        default=None,
        max_length=2000,
        description="Absolute http(s) link to the story's picture: sent as a Telegram photo, shown atop the email. "
        "Replaces an image of the body's front matter.",
    )
    language: Text | None = Field(
        default=None,
        max_length=35,
        description="The language the story is written in, a code such as en, de, es or fr (de-AT is stored as de); "
        "readers who chose their story languages get it only if it is one of theirs. Default: a language of the "
        "body's front matter, else NEWSBOT_DEFAULT_LANGUAGE.",
    )

    @field_validator("language")
    @classmethod
    def _language_code(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = language_code(value)
        if code is None:
            raise ValueError(f"must be a language code such as {EXAMPLES}")
        return code


class _StoryFields(BaseModel):
    """What every answer about a story starts with."""

    id: str
    title: str
    topics: list[str]
    summary: str
    breaking: bool
    url: str | None
    language: str | None = Field(default=None, description="The language it is written in (a code such as de).")
    publish_at: datetime | None = Field(default=None, description="When it goes out (embargo); null: at once.")

    @staticmethod
    def of(story: Story) -> dict[str, Any]:
        """The fields of this model, and the external id every answer also carries, taken from *story*."""
        return {**story.overview(), "external_id": story.external_id, "publish_at": story.publish_at}


class StoryOut(_StoryFields):
    external_id: str | None
    created: bool = Field(description="False when the story was already there: nothing new was queued.")
    recipients: dict[str, int] = Field(description="Readers the story is queued for, per channel.")
    social: list[str] = Field(description="Social destinations it will be posted to (new stories only).")
    warnings: list[str] = Field(
        default_factory=list, description="Problems worth a look, e.g. a story with no topic reaches nobody."
    )


class SocialPostOut(BaseModel):
    destination: str
    status: str
    attempts: int
    last_error: str | None


class StoryStatusOut(_StoryFields):
    source: str | None
    external_id: str | None
    deliveries: dict[str, dict[str, int]] = Field(description="Per channel, deliveries by status.")
    failures: dict[str, int] = Field(description="Failed deliveries by reason.")
    social_posts: list[SocialPostOut]
    stopped_at: datetime | None = Field(default=None, description="When an editor stopped its send (until resumed).")
    retracted_at: datetime | None = Field(
        default=None, description="When it was withdrawn (retracted, or its scheduled publication cancelled)."
    )
    version: int = Field(default=1, description="1 as first sent; each correction adds one.")
    correction_note: str | None = Field(default=None, description='The latest "Corrected: ..." note.')
    updates: str | None = Field(default=None, description="The story this one follows up, if any.")
    changes: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="What was done to its sent messages, by kind (edit, correction, delete, withdraw) and status.",
    )


router = story_router()


@router.post(
    "/stories",
    response_model=StoryOut,
    status_code=201,
    responses={
        200: {"description": "Already ingested (same story or external_id): nothing new queued", "model": StoryOut},
        401: {"description": "Missing or wrong bearer token"},
        413: {"description": "Body larger than NEWSBOT_MAX_API_BODY_BYTES"},
        503: {"description": "The API is disabled: NEWSBOT_API_TOKEN is not set"},
    },
)
async def post_story(story_in: StoryIn, response: Response, newsroom: Newsroom = Depends(newsroom_of)) -> StoryOut:
    """Ingest a story: tag, summarise, queue it for its readers and its social destinations."""
    with story_refusals(story_in.body):
        draft = await off_loop(parse_story, story_in.body, max_bytes=newsroom.settings.max_story_bytes)
    draft = dataclasses.replace(
        draft,
        title=story_in.title or draft.title,
        url=story_in.url or draft.url,
        breaking=story_in.breaking or draft.breaking,
        publish_at=story_in.publish_at or draft.publish_at,
        updates=story_in.updates or draft.updates,
        image_url=story_in.image_url or draft.image_url,
        image_alt=draft.image_alt if story_in.image_url is None else None,
        language=story_in.language or draft.language,
    )
    check_topics(newsroom, story_in.topics)
    with story_refusals(story_in.body):
        story = await prepare_off_loop(
            newsroom, draft, extra_topics=story_in.topics, source="api", external_id=story_in.external_id
        )
    try:
        published = await publish_story(newsroom, story, actor="api")
    except StoryNotFound as exc:  # the story it follows up
        raise invalid(("updates",), str(exc), story.updates) from None
    stored = published.story
    if not published.created:
        response.status_code = 200
    async with newsroom.reader.connect() as conn:
        recipients = await deliveries_store.count_story_deliveries(conn, stored.id)
    return StoryOut(
        **_StoryFields.of(stored),
        created=published.created,
        recipients=recipients,
        social=[destination.label for destination in published.social],
        warnings=[w for w in [no_topic_warning(stored, f"PUT /api/stories/{stored.id}/topics")] if w],
    )


@router.get(
    "/stories/{story_id}",
    response_model=StoryStatusOut,
    responses=STORY_RESPONSES,
)
async def get_story(story_id: str, newsroom: Newsroom = Depends(newsroom_of)) -> StoryStatusOut:
    """A story with its delivery counts per channel and status, failure reasons and social posts."""
    async with newsroom.reader.connect() as conn:
        story = await stories.load_story(conn, story_id, Story)
        if story is None:
            raise HTTPException(404, f"no story with id {story_id!r}")
        deliveries = await status_store.story_delivery_status_counts(conn, story_id)
        failures = await status_store.story_failure_reasons(conn, story_id)
        posts = await social_posts_store.list_social_posts(conn, story_id)
        state = await story_states.load_story_state(conn, story_id)
        changes = await story_changes.change_status_counts(conn, story_id)
    return StoryStatusOut(
        **_StoryFields.of(story),
        source=story.source,
        deliveries=deliveries,
        failures=failures,
        social_posts=[
            SocialPostOut(destination=p.destination, status=p.status, attempts=p.attempts, last_error=p.last_error)
            for p in posts
        ],
        stopped_at=state.stopped_at if state else None,
        retracted_at=state.retracted_at if state else None,
        version=story.version,
        correction_note=story.correction_note,
        updates=story.updates,
        changes=changes,
    )


class TopicsIn(BaseModel):
    """Topics to add to a stored story."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{"topics": ["local"]}]})

    topics: list[Text] = Field(min_length=1, max_length=30, description="Topic slugs, names or aliases to add.")


class RetagOut(BaseModel):
    id: str
    topics: list[str] = Field(description="All the story's topics now.")
    added: list[str] = Field(description="Topics it did not have before (empty: nothing changed).")
    recipients: dict[str, int] = Field(description="Readers newly queued per channel (the new topics' followers).")


@router.put(
    "/stories/{story_id}/topics",
    response_model=RetagOut,
    responses={**STORY_RESPONSES, 409: {"description": "The story has already gone out to readers"}},
)
async def put_story_topics(story_id: str, topics_in: TopicsIn, newsroom: Newsroom = Depends(newsroom_of)) -> RetagOut:
    """Add topics to a stored story that has not gone out yet and queue it for their followers.

    Topics it already has are kept (none is removed), so sending the same request again changes nothing.
    """
    check_topics(newsroom, topics_in.topics)
    with story_refusals():
        result = await retag_story(newsroom, story_id, topics_in.topics, actor="api")
    return RetagOut(
        id=result.story.id, topics=list(result.story.topics), added=list(result.added), recipients=result.recipients
    )
