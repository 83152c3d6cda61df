"""The desk's stories: the list (scheduled, sending with live progress, stopped, sent, corrected, withdrawn) and
one story's page with its deliveries, failures, social posts, versions and the actions of its life.

Every action goes through the service the CLI, the API and the Telegram desk use (`bot.stories.stopping`,
`corrections`, `retraction`, `embargo`), audited as the signed-in account, and answers with a 303 back to the
story's page (so reloading it repeats nothing). Pages showing a send in progress refresh themselves every
:data:`REFRESH_SECONDS` with a meta refresh: live progress without JavaScript.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

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
from bot.web.desk_auth import DeskView, EditorSession, checked_form, current_editor, editor_view
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
async def story_list(desk: DeskView = Depends(editor_view)) -> HTMLResponse:
    """Every recent story under the heading of where it stands; refreshes itself while one is sending."""
    now = desk.newsroom.clock.now()
    async with desk.newsroom.reader.connect() as conn:
        listed = await story_lists.list_desk_stories(conn)
    groups: dict[str, list[story_lists.ListedStory]] = {state: [] for state in story_lists.STATES}
    for story in listed:
        groups[story.state(now)].append(story)
    zone = schedule_zone(desk.newsroom)
    context = {
        "groups": [(state, SHOWN_STATES[state], groups[state]) for state in story_lists.STATES],
        "refresh": REFRESH_SECONDS if groups[story_lists.SENDING] else None,
        "empty": not listed,
        "when": lambda moment: when_text(moment, zone),
    }
    return desk.page("stories.html.j2", context, section="/desk/stories")


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
        language=story.language,
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
    newsroom: Newsroom,
    editor: EditorSession,
    story_id: str,
    *,
    template: str = "story.html.j2",
    done: str = "",
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    """The story's page (or another page about it, *template*), with what an action did or why it was refused."""
    context = await _story_context(newsroom, story_id)
    if context is None:
        return _not_found(newsroom, editor, story_id)
    context.update(done=DONE.get(done, ""), error=error)
    if error:
        context["refresh"] = None
    return desk_page(newsroom, editor, template, context, section="/desk/stories", status=status)


@router.get("/desk/stories/{story_id}", response_class=HTMLResponse)
async def show_story(
    story_id: str,
    request: Request,
    editor: EditorSession = Depends(current_editor),
    newsroom: Newsroom = Depends(newsroom_of),
) -> HTMLResponse:
    """One story: progress per channel, deliveries by status, failures, social posts, versions, actions."""
    return await story_page(newsroom, editor, story_id, done=request.query_params.get("done", ""))


@router.get("/desk/stories/{story_id}/retract", response_class=HTMLResponse)
async def confirm_retract(
    story_id: str, editor: EditorSession = Depends(current_editor), newsroom: Newsroom = Depends(newsroom_of)
) -> HTMLResponse:
    """What retracting will do, with a note field and the button that does it."""
    return await story_page(newsroom, editor, story_id, template="retract.html.j2")


# -- the actions: each runs a service and answers the one way every action answers ------------------------------


@dataclass(frozen=True, slots=True)
class StoryAction:
    """A form posted about one story by the signed-in editor: what every action needs to run and to answer."""

    story_id: str
    form: FormData
    editor: EditorSession
    newsroom: Newsroom

    def text(self, name: str) -> str | None:
        """A typed field, None when left empty (a note nobody wrote)."""
        return str(self.form.get(name) or "") or None

    async def answer(self, action: Callable[[], Awaitable[str]], *, field: str = "") -> Response:
        """Run *action* (it returns a key of :data:`DONE`) and answer: a 303 back to the story's page, the 404 page,
        or the story's page with the refusal (409) or with what is wrong with the typed *field* (422)."""
        try:
            done = await action()
        except StoryNotFound:
            return _not_found(self.newsroom, self.editor, self.story_id)
        except _REFUSED as exc:
            return await story_page(self.newsroom, self.editor, self.story_id, error=str(exc), status=409)
        except (StoryRejected, TopicNotFound, InvalidSchedule) as exc:
            error = f"{field}: {exc}"
            return await story_page(self.newsroom, self.editor, self.story_id, error=error, status=422)
        return RedirectResponse(f"/desk/stories/{self.story_id}?done={done}", status_code=303)


async def story_action(
    story_id: str,
    form: FormData = Depends(checked_form),
    editor: EditorSession = Depends(current_editor),
    newsroom: Newsroom = Depends(newsroom_of),
) -> StoryAction:
    """FastAPI dependency: the posted action, its CSRF token checked."""
    return StoryAction(story_id, form, editor, newsroom)


@router.post("/desk/stories/{story_id}/stop", response_model=None)
async def stop(act: StoryAction = Depends(story_action)) -> Response:
    """Hold back the rest of the send."""

    async def run() -> str:
        report = await stop_story(act.newsroom, act.story_id, actor=act.editor.actor)
        return "stopped" if report.changed else "not-stopped"

    return await act.answer(run)


@router.post("/desk/stories/{story_id}/resume", response_model=None)
async def resume(act: StoryAction = Depends(story_action)) -> Response:
    """Send the rest of a stopped story; nobody gets it twice."""

    async def run() -> str:
        await resume_story(act.newsroom, act.story_id, actor=act.editor.actor)
        return "resumed"

    return await act.answer(run)


@router.post("/desk/stories/{story_id}/correct", response_model=None)
async def correct(act: StoryAction = Depends(story_action)) -> Response:
    """Correct the story with the text typed; Telegram copies are edited, emails get a notice only if asked."""
    body, title = act.text("body") or "", " ".join((act.text("title") or "").split())

    async def run() -> str:
        if not body.strip():
            raise StoryRejected("the corrected text is empty")
        draft = story_draft_from_message(body, max_bytes=act.newsroom.settings.max_story_bytes)
        if title:
            draft = dataclasses.replace(draft, title=title)
        notify = act.form.get("notify") in ("1", "on")
        report = await correct_story(
            act.newsroom, act.story_id, draft, actor=act.editor.actor, note=act.text("note"), notify=notify
        )
        return "corrected" if report.changed else "unchanged"

    return await act.answer(run, field="Correction")


@router.post("/desk/stories/{story_id}/retract", response_model=None)
async def retract(act: StoryAction = Depends(story_action)) -> Response:
    """Withdraw the story everywhere it can be withdrawn."""

    async def run() -> str:
        report = await retract_story(act.newsroom, act.story_id, actor=act.editor.actor, note=act.text("note"))
        return "retracted" if report.retracted else "not-stopped"

    return await act.answer(run)


@router.post("/desk/stories/{story_id}/schedule", response_model=None)
async def schedule(act: StoryAction = Depends(story_action)) -> Response:
    """Move a scheduled story (``publish_at``) or cancel its publication (``cancel``)."""

    async def run() -> str:
        if act.form.get("cancel"):
            await cancel_scheduled_story(act.newsroom, act.story_id, actor=act.editor.actor)
            return "cancelled"
        moment = parse_typed_time(act.text("publish_at") or "", schedule_zone(act.newsroom))
        await reschedule_story(act.newsroom, act.story_id, moment, actor=act.editor.actor)
        return "moved"

    return await act.answer(run, field="Send at")
