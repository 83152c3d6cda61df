"""The desk's stories: the list (scheduled, sending with live progress, stopped, sent, corrected, withdrawn) and
one story's page with its deliveries, failures, social posts, versions and the actions of its life.

Every action goes through the service the CLI, the API and the Telegram desk use (`bot.stories.stopping`,
`corrections`, `retraction`, `embargo`), audited as the signed-in account, and answers with a 303 back to the
story's page (so reloading it repeats nothing). Pages showing a send in progress refresh themselves every
:data:`REFRESH_SECONDS` with a meta refresh: live progress without JavaScript.
"""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from bot.app.errors import (
    InvalidSchedule,
    StoryAlreadySent,
    StoryHalted,
    StoryNotFound,
    StoryRejected,
    TopicNotFound,
)
from bot.app.newsroom import Newsroom
from bot.editors.drafts import story_draft_from_message
from bot.editors.schedule_panel import parse_typed_time
from bot.stories.corrections import StoryChangedMeanwhile, correct_story
from bot.stories.embargo import cancel_scheduled_story, reschedule_story
from bot.stories.retraction import StoryRetracted, retract_story
from bot.stories.stopping import resume_story, stop_story
from bot.stories.story import Story
from bot.web.app_state import newsroom_of
from bot.web.desk_auth import EditorSession, checked_form, current_editor
from bot.web.desk_drafts import schedule_zone, when_text
from bot.web.desk_rendering import desk_page
from subscribers import social_posts as social_posts_store
from subscribers import status as status_store
from subscribers import stories, story_changes, story_lists, story_states

router = APIRouter()

REFRESH_SECONDS = 3
#: What the story's page says after an action redirected to it (``?done=...``).
DONE = {
    "sent": "Sent: the story is queued for its readers and goes out now.",
    "already": "This story was already stored (same text or id): nothing new was queued.",
    "stopped": "Stopped: nothing more of it goes out. Resume sends the rest; nobody gets it twice.",
    "not-stopped": "It was already stopped or withdrawn: nothing changed.",
    "resumed": "Resumed: the rest is on its way.",
    "corrected": "Corrected: Telegram copies already sent are being edited in place.",
    "unchanged": "That is the text it already has: nothing changed.",
    "retracted": "Retracted: queued messages cancelled, recent Telegram copies deleted, older ones replaced.",
    "moved": "Schedule moved.",
    "cancelled": "Publication cancelled: nothing of it will be sent.",
}
SHOWN_STATES = {
    story_lists.SCHEDULED: "Scheduled",
    story_lists.SENDING: "Sending",
    story_lists.STOPPED: "Stopped",
    story_lists.SENT: "Sent",
    story_lists.CORRECTED: "Corrected",
    story_lists.WITHDRAWN: "Withdrawn",
}
_REFUSED = (StoryAlreadySent, StoryHalted, StoryRetracted, StoryChangedMeanwhile)


@router.get("/desk/stories", response_class=HTMLResponse)
async def story_list(
    editor: EditorSession = Depends(current_editor), newsroom: Newsroom = Depends(newsroom_of)
) -> HTMLResponse:
    """Every recent story under the heading of where it stands; refreshes itself while one is sending."""
    now = newsroom.clock.now()
    async with newsroom.reader.connect() as conn:
        listed = await story_lists.list_desk_stories(conn)
    groups: dict[str, list[story_lists.ListedStory]] = {state: [] for state in story_lists.STATES}
    for story in listed:
        groups[story.state(now)].append(story)
    zone = schedule_zone(newsroom)
    context = {
        "groups": [(state, SHOWN_STATES[state], groups[state]) for state in story_lists.STATES],
        "refresh": REFRESH_SECONDS if groups[story_lists.SENDING] else None,
        "empty": not listed,
        "when": lambda moment: when_text(moment, zone),
    }
    return desk_page(newsroom, editor, "stories.html.j2", context, section="/desk/stories")


async def _story_context(newsroom: Newsroom, story_id: str) -> dict[str, object] | None:
    now = newsroom.clock.now()
    async with newsroom.reader.connect() as conn:
        story = await stories.load_story(conn, story_id, Story)
        state = await story_states.load_story_state(conn, story_id)
        if story is None or state is None:
            return None
        progress = await story_states.send_progress(conn, story_id)
        deliveries = await status_store.story_delivery_status_counts(conn, story_id)
        failures = await status_store.story_failure_reasons(conn, story_id)
        posts = await social_posts_store.list_social_posts(conn, story_id)
        changes = await story_changes.change_status_counts(conn, story_id)
        versions = await story_lists.list_story_versions(conn, story_id)
    # The story's own messages by status, all channels together: what its state and progress bar count.
    totals: dict[str, int] = {}
    for counts in progress.deliveries.values():
        for status, n in counts.items():
            totals[status] = totals.get(status, 0) + n
    listed = story_lists.ListedStory(
        story.id,
        story.title,
        story.breaking,
        story.source,
        state.created_at,
        state.publish_at,
        state.stopped_at,
        state.retracted_at,
        story.version,
        counts=totals,
    )
    where = listed.state(now)
    zone = schedule_zone(newsroom)
    return {
        "story": story,
        "state": where,
        "state_label": SHOWN_STATES[where],
        "listed": listed,
        "progress": {channel: progress.sent_of(channel) for channel in progress.deliveries},
        "deliveries": deliveries,
        "failures": failures,
        "posts": posts,
        "changes": changes,
        "versions": versions,
        "publish_at": when_text(state.publish_at, zone) if state.publish_at else None,
        "created": when_text(state.created_at, zone),
        "zone": zone.key,
        "refresh": REFRESH_SECONDS if where == story_lists.SENDING else None,
    }


def _not_found(newsroom: Newsroom, editor: EditorSession, story_id: str) -> HTMLResponse:
    context = {"title": "No such story", "message": f"There is no story with id {story_id!r}."}
    return desk_page(newsroom, editor, "notice.html.j2", context, section="/desk/stories", status=404)


async def story_page(
    newsroom: Newsroom, editor: EditorSession, story_id: str, *, done: str = "", error: str = "", status: int = 200
) -> HTMLResponse:
    context = await _story_context(newsroom, story_id)
    if context is None:
        return _not_found(newsroom, editor, story_id)
    context.update(done=DONE.get(done, ""), error=error)
    if error:
        context["refresh"] = None
    return desk_page(newsroom, editor, "story.html.j2", context, section="/desk/stories", status=status)


@router.get("/desk/stories/{story_id}", response_class=HTMLResponse)
async def show_story(
    story_id: str,
    request: Request,
    editor: EditorSession = Depends(current_editor),
    newsroom: Newsroom = Depends(newsroom_of),
) -> HTMLResponse:
    """One story: progress per channel, deliveries by status, failures, social posts, versions, actions."""
    return await story_page(newsroom, editor, story_id, done=request.query_params.get("done", ""))


def _back(story_id: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"/desk/stories/{story_id}?done={done}", status_code=303)


@router.post("/desk/stories/{story_id}/stop", response_model=None)
async def stop(
    story_id: str,
    form: FormData = Depends(checked_form),
    editor: EditorSession = Depends(current_editor),
    newsroom: Newsroom = Depends(newsroom_of),
) -> Response:
    try:
        report = await stop_story(newsroom, story_id, actor=editor.actor)
    except StoryNotFound:
        return _not_found(newsroom, editor, story_id)
    return _back(story_id, "stopped" if report.changed else "not-stopped")


@router.post("/desk/stories/{story_id}/resume", response_model=None)
async def resume(
    story_id: str,
    form: FormData = Depends(checked_form),
    editor: EditorSession = Depends(current_editor),
    newsroom: Newsroom = Depends(newsroom_of),
) -> Response:
    try:
        await resume_story(newsroom, story_id, actor=editor.actor)
    except StoryNotFound:
        return _not_found(newsroom, editor, story_id)
    except _REFUSED as exc:
        return await story_page(newsroom, editor, story_id, error=str(exc), status=409)
    return _back(story_id, "resumed")


@router.post("/desk/stories/{story_id}/correct", response_model=None)
async def correct(
    story_id: str,
    form: FormData = Depends(checked_form),
    editor: EditorSession = Depends(current_editor),
    newsroom: Newsroom = Depends(newsroom_of),
) -> Response:
    """Correct the story with the text typed; Telegram copies are edited, emails get a notice only if asked."""
    body, title = str(form.get("body") or ""), " ".join(str(form.get("title") or "").split())
    try:
        if not body.strip():
            raise StoryRejected("the corrected text is empty")
        draft = story_draft_from_message(body, max_bytes=newsroom.settings.max_story_bytes)
        if title:
            draft = dataclasses.replace(draft, title=title)
        report = await correct_story(
            newsroom,
            story_id,
            draft,
            actor=editor.actor,
            note=str(form.get("note") or "") or None,
            notify=form.get("notify") in ("1", "on"),
        )
    except StoryNotFound:
        return _not_found(newsroom, editor, story_id)
    except _REFUSED as exc:
        return await story_page(newsroom, editor, story_id, error=str(exc), status=409)
    except (StoryRejected, TopicNotFound) as exc:
        return await story_page(newsroom, editor, story_id, error=f"Correction: {exc}", status=422)
    return _back(story_id, "corrected" if report.changed else "unchanged")


@router.get("/desk/stories/{story_id}/retract", response_class=HTMLResponse)
async def confirm_retract(
    story_id: str, editor: EditorSession = Depends(current_editor), newsroom: Newsroom = Depends(newsroom_of)
) -> HTMLResponse:
    """What retracting will do, with a note field and the button that does it."""
    context = await _story_context(newsroom, story_id)
    if context is None:
        return _not_found(newsroom, editor, story_id)
    return desk_page(newsroom, editor, "retract.html.j2", context, section="/desk/stories")


@router.post("/desk/stories/{story_id}/retract", response_model=None)
async def retract(
    story_id: str,
    form: FormData = Depends(checked_form),
    editor: EditorSession = Depends(current_editor),
    newsroom: Newsroom = Depends(newsroom_of),
) -> Response:
    try:
        report = await retract_story(newsroom, story_id, actor=editor.actor, note=str(form.get("note") or "") or None)
    except StoryNotFound:
        return _not_found(newsroom, editor, story_id)
    return _back(story_id, "retracted" if report.retracted else "not-stopped")


@router.post("/desk/stories/{story_id}/schedule", response_model=None)
async def schedule(
    story_id: str,
    form: FormData = Depends(checked_form),
    editor: EditorSession = Depends(current_editor),
    newsroom: Newsroom = Depends(newsroom_of),
) -> Response:
    """Move a scheduled story (``publish_at``) or cancel its publication (``cancel``)."""
    try:
        if form.get("cancel"):
            await cancel_scheduled_story(newsroom, story_id, actor=editor.actor)
            return _back(story_id, "cancelled")
        moment = parse_typed_time(str(form.get("publish_at") or ""), schedule_zone(newsroom))
        await reschedule_story(newsroom, story_id, moment, actor=editor.actor)
    except StoryNotFound:
        return _not_found(newsroom, editor, story_id)
    except _REFUSED as exc:
        return await story_page(newsroom, editor, story_id, error=str(exc), status=409)
    except InvalidSchedule as exc:
        return await story_page(newsroom, editor, story_id, error=f"Send at: {exc}", status=422)
    return _back(story_id, "moved")
