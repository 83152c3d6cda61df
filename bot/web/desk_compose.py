"""The desk's Compose → Preview → Send, for editors signed in on the web.

``GET /desk`` is the form (paste text, Markdown or HTML; a link on the first line, or in the URL field, is the
story's link: newsbot does not fetch pages). ``POST /desk/preview`` shows exactly what readers get, with the
topics as ticks (the tagger's suggestions ticked the first time) and the readers it reaches per channel.
``POST /desk/send`` publishes it through :func:`bot.stories.intake.publish_story`, audited as the editor's
account; a breaking story first gets a page naming its reach and asking once more. ``POST /desk/compose`` goes
back to the form with what was typed. Every POST carries the session's CSRF token (:func:`checked_form`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from bot.app.errors import StoryNotFound
from bot.app.newsroom import Newsroom
from bot.stories.intake import publish_story
from bot.stories.story import Story
from bot.web.app_state import newsroom_of
from bot.web.desk_auth import EditorSession, checked_form, current_editor
from bot.web.desk_drafts import (
    ComposeForm,
    DraftProblem,
    desk_languages,
    preview_story,
    schedule_zone,
    story_from_form,
    when_text,
)
from bot.web.desk_rendering import desk_page

router = APIRouter()


async def compose_page(
    newsroom: Newsroom, editor: EditorSession, form: ComposeForm, *, error: DraftProblem | None = None
) -> HTMLResponse:
    context = {
        "form": form,
        "error": error,
        "error_field": error.field if error else "",
        "zone": schedule_zone(newsroom).key,
        "topics": list(newsroom.taxonomy),
        "default_language": newsroom.settings.default_language,
        "languages": await desk_languages(newsroom, form.language),
    }
    return desk_page(newsroom, editor, "compose.html.j2", context, section="/desk", status=422 if error else 200)


@dataclass(frozen=True, slots=True)
class PostedDraft:
    """The compose form as the signed-in editor posted it: what Compose, Preview and Send each need."""

    form: FormData
    typed: ComposeForm
    editor: EditorSession
    newsroom: Newsroom

    async def form_again(self, problem: DraftProblem | None = None) -> HTMLResponse:
        """The form with everything typed so far, and the field that stops it."""
        return await compose_page(self.newsroom, self.editor, self.typed, error=problem)

    async def answer(self, then: Callable[[Story, list[str]], Awaitable[Response]]) -> Response:
        """Read the form as a story and go on with it (and the tagger's suggestions), or show the form again."""
        try:
            story, suggested = story_from_form(self.newsroom, self.typed)
        except DraftProblem as problem:
            return await self.form_again(problem)
        return await then(story, suggested)

    async def previewed(self, template: str, story: Story, suggested: list[str]) -> HTMLResponse:
        """*template* showing *story* as every channel gets it, the form's fields carried along."""
        context = {
            "form": self.typed,
            "preview": await preview_story(self.newsroom, story, suggested),
            "topics": list(self.newsroom.taxonomy),
            "when": when_text(story.publish_at, schedule_zone(self.newsroom)),
        }
        return desk_page(self.newsroom, self.editor, template, context, section="/desk")


async def posted_draft(
    form: FormData = Depends(checked_form),
    editor: EditorSession = Depends(current_editor),
    newsroom: Newsroom = Depends(newsroom_of),
) -> PostedDraft:
    """FastAPI dependency: the posted compose form, its CSRF token checked."""
    return PostedDraft(form, ComposeForm.of(form), editor, newsroom)


@router.get("/desk", response_class=HTMLResponse)
async def compose(
    request: Request,
    editor: EditorSession = Depends(current_editor),
    newsroom: Newsroom = Depends(newsroom_of),
) -> HTMLResponse:
    """The empty form; ``?updates=ID`` starts a follow-up of that story."""
    return await compose_page(newsroom, editor, ComposeForm(updates=request.query_params.get("updates", "")))


@router.post("/desk/compose", response_class=HTMLResponse)
async def back_to_compose(draft: PostedDraft = Depends(posted_draft)) -> HTMLResponse:
    """The form again, with everything typed so far."""
    return await draft.form_again()


@router.post("/desk/preview", response_class=HTMLResponse)
async def preview(draft: PostedDraft = Depends(posted_draft)) -> Response:
    """The story as Telegram, email (phone and desktop width, and its plain text) and each social post show it."""
    return await draft.answer(lambda story, suggested: draft.previewed("preview.html.j2", story, suggested))


@router.post("/desk/send", response_model=None)
async def send(draft: PostedDraft = Depends(posted_draft)) -> Response:
    """Publish the previewed story; a breaking one only once the editor confirmed its reach."""

    async def publish(story: Story, suggested: list[str]) -> Response:
        if story.breaking and not draft.form.get("confirmed"):
            return await draft.previewed("confirm_breaking.html.j2", story, suggested)
        try:
            published = await publish_story(draft.newsroom, story, actor=draft.editor.actor)
        except StoryNotFound as exc:  # the story it follows up
            return await draft.form_again(DraftProblem("updates", str(exc)))
        note = "sent" if published.created else "already"
        return RedirectResponse(f"/desk/stories/{published.story.id}?done={note}", status_code=303)

    return await draft.answer(publish)
