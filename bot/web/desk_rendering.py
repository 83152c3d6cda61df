"""How every desk page is answered: one layout from ``templates/desk/``, headers that keep it private, and the
desk's own stylesheet served by newsbot itself (no CDN, no script needed).

Desk pages, the sign-in pages included (their links carry one-time tokens), are never cached, never framed by
another site and never send a Referer; one policy for all of them allows only newsbot's own stylesheet, inline
styles (the email previews and the sign-in layout carry them) and https images (a story's picture).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

from bot.app.newsroom import Newsroom
from bot.rendering.renderer import builtin_templates_dir

if TYPE_CHECKING:  # desk_auth answers its sign-in pages with desk_page: no import back at run time
    from bot.web.desk_auth import EditorSession

#: The desk's sections, in the order of its navigation bar: (path, label, admin only).
SECTIONS = (
    ("/desk", "Compose", False),
    ("/desk/stories", "Stories", False),
    ("/desk/digest", "Digest", False),
    ("/desk/readers", "Readers", False),
    ("/desk/status", "Status", False),
    ("/desk/audit", "Audit", False),
    ("/desk/topics", "Topics", True),
    ("/desk/social", "Social", True),
    ("/desk/editors", "Editors", True),
)
POLICY = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' https: data:; frame-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
#: Files under ``templates/desk/static`` the desk serves, by name, with their media type.
STATIC_FILES = {"desk.css": "text/css"}

static_router = APIRouter()


def desk_page(
    newsroom: Newsroom,
    editor: EditorSession | None,
    template: str,
    context: dict[str, Any],
    *,
    section: str = "",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """*template* (under ``templates/desk/``) in the desk's layout, for *editor* (None on the sign-in pages)."""
    html = newsroom.renderer.render(
        f"desk/{template}",
        {
            "outlet_name": newsroom.settings.outlet_name,
            "editor": editor,
            "sections": SECTIONS,
            "section": section,
            **context,
        },
    )
    return HTMLResponse(
        html,
        status_code=status,
        headers={
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": POLICY,
            **(headers or {}),
        },
    )


def static_dir() -> Path:
    return builtin_templates_dir() / "desk" / "static"


@static_router.get("/desk/static/{name}", include_in_schema=False)
async def desk_static(name: str) -> FileResponse:
    """The desk's stylesheet; anything else under the path is 404."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise HTTPException(404, "no such file")
    return FileResponse(static_dir() / name, media_type=media_type, headers={"Cache-Control": "max-age=3600"})
