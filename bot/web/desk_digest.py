"""The desk's Digest page: this week's digest so far (the outlet's week), as a reader of the chosen topics will get
it on Monday, on Telegram and by email, through the same preview ``newsbot digest --preview`` uses (nothing is
queued)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from bot.app.errors import TopicNotFound
from bot.outbox.digest_preview import InvalidPreview, preview_digest
from bot.outbox.reader_hours import local_digest_time
from bot.web.desk_auth import DeskView, editor_view
from bot.web.desk_drafts import schedule_zone, when_text

router = APIRouter()


@router.get("/desk/digest", response_class=HTMLResponse)
async def digest(request: Request, desk: DeskView = Depends(editor_view)) -> HTMLResponse:
    """``?topic=a&topic=b`` picks the reader's topics (default: all of them)."""
    chosen = [slug for slug in request.query_params.getlist("topic") if slug]
    context: dict[str, object] = {"topics": list(desk.newsroom.taxonomy), "chosen": set(chosen), "error": ""}
    try:
        chat = await preview_digest(desk.newsroom, topics=chosen)
        mail = await preview_digest(desk.newsroom, topics=chosen, channel="email")
    except (TopicNotFound, InvalidPreview) as exc:
        context["error"] = str(exc)
        return desk.page("digest.html.j2", context, section="/desk/digest", status=422)
    settings = desk.newsroom.settings
    email_html = mail.email_path.read_text(encoding="utf-8") if mail.email_path else ""
    context.update(
        week=chat.week,
        audience=chat.audience,
        telegram=chat.telegram,
        email_html=email_html,
        goes_out=when_text(local_digest_time(chat.week, chat.week.zone, settings), schedule_zone(desk.newsroom)),
    )
    return desk.page("digest.html.j2", context, section="/desk/digest")
