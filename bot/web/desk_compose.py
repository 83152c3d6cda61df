"""The desk's Compose → Preview → Send, for editors signed in on the web.

``GET /desk`` is the form (paste text, Markdown or HTML; a link on the first line, or in the URL field, is the
story's link: newsbot does not fetch pages). ``POST /desk/preview`` shows exactly what readers get, with the
topics as ticks (the tagger's suggestions ticked the first time) and the readers it reaches per channel.
``POST /desk/send`` publishes it through :func:`bot.stories.intake.publish_story`, audited as the editor's
account; a breaking story first gets a page naming its reach and asking once more. ``POST /desk/compose`` goes
back to the form with what was typed. Every POST carries the session's CSRF token (:func:`checked_form`).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from bot.app.errors import StoryNotFound
from bot.app.newsroom import Newsroom
from bot.stories.intake import publish_story
from bot.web.app_state import newsroom_of
from bot.web.desk_auth import EditorSession, checked_form, current_editor
from bot.web.desk_drafts import ComposeForm, DraftProblem, preview_story, schedule_zone, story_from_form, when_text
from bot.web.desk_rendering import desk_page

router = APIRouter()


def compose_page(
    newsroom: Newsroom, editor: EditorSession, form: ComposeForm, *, error: DraftProblem | None = None
) -> HTMLResponse:
    context = {
        "form": form,
        "error": error,
        "error_field": error.field if error else "",
        "zone": schedule_zone(newsroom).key,
        "topics": list(newsroom.taxonomy),
    }
    return desk_page(newsroom, editor, "compose.html.j2", context, section="/desk", status=422 if error else 200)


@router.get("/desk", response_class=HTMLResponse)
async def compose(
    request: Request,
    editor: EditorSession = Depends(current_editor),
    newsroom: Newsroom = Depends(newsroom_of),
) -> HTMLResponse:
    """The empty form; ``?updates=ID`` starts a follow-up of that story."""
    return compose_page(newsroom, editor, ComposeForm(updates=request.query_params.get("updates", "")))


@router.post("/desk/compose", response_class=HTMLResponse)
async def back_to_compose(
    form: FormData = Depends(checked_form),
    editor: EditorSession = Depends(current_editor),
    newsroom: Newsroom = Depends(newsroom_of),
) -> HTMLResponse:
    """The form again, with everything typed so far."""
    return compose_page(newsroom, editor, ComposeForm.of(form))


@router.post("/desk/preview", response_class=HTMLResponse)
async def preview(
    form: FormData = Depends(checked_form),
    editor: EditorSession = Depends(current_editor),
    newsroom: Newsroom = Depends(newsroom_of),
) -> HTMLResponse:
    """The story as Telegram, email (phone and desktop width, and its plain text) and each social post show it."""
    typed = ComposeForm.of(form)
    try:
        story, suggested = story_from_form(newsroom, typed)
    except DraftProblem as problem:
        return compose_page(newsroom, editor, typed, error=problem)
    shown = await preview_story(newsroom, story, suggested)
    context = {
        "form": typed,
        "preview": shown,
        "topics": list(newsroom.taxonomy),
        "when": when_text(story.publish_at, schedule_zone(newsroom)),
    }
    return desk_page(newsroom, editor, "preview.html.j2", context, section="/desk")


@router.post("/desk/send", response_model=None)
async def send(
    form: FormData = Depends(checked_form),
    editor: EditorSession = Depends(current_editor),
    newsroom: Newsroom = Depends(newsroom_of),
) -> Response:
    """Publish the previewed story; a breaking one only once the editor confirmed its reach."""
    typed = ComposeForm.of(form)
    try:
        story, suggested = story_from_form(newsroom, typed)
    except DraftProblem as problem:
        return compose_page(newsroom, editor, typed, error=problem)
    if story.breaking and not form.get("confirmed"):
        shown = await preview_story(newsroom, story, suggested)
        context = {"form": typed, "preview": shown, "when": when_text(story.publish_at, schedule_zone(newsroom))}
        return desk_page(newsroom, editor, "confirm_breaking.html.j2", context, section="/desk")
    try:
        published = await publish_story(newsroom, story, actor=editor.actor)
    except StoryNotFound as exc:  # the story it follows up
        return compose_page(newsroom, editor, typed, error=DraftProblem("updates", str(exc)))
    note = "sent" if published.created else "already"
    return RedirectResponse(f"/desk/stories/{published.story.id}?done={note}", status_code=303)
