"""The editors' desk on the web: every desk page's router in one, mounted by :func:`bot.web.create_app`.

Sign-in, sessions and CSRF are :mod:`bot.web.desk_auth`'s; the pages are one module per section: compose,
preview and send (:mod:`bot.web.desk_compose`), stories and their life (:mod:`bot.web.desk_stories`), status and
audit (:mod:`bot.web.desk_status`), the digest (:mod:`bot.web.desk_digest`), readers
(:mod:`bot.web.desk_readers`), editor accounts (:mod:`bot.web.desk_editors`), topics and social destinations
(:mod:`bot.web.desk_topics`). Each page is plain server-rendered HTML from ``templates/desk/`` with newsbot's own
stylesheet (:mod:`bot.web.desk_rendering`): it works without JavaScript and fits a phone.
"""

from __future__ import annotations

from fastapi import APIRouter

from bot.web import (
    desk_compose,
    desk_digest,
    desk_editors,
    desk_readers,
    desk_rendering,
    desk_status,
    desk_stories,
    desk_topics,
)

router = APIRouter()
for section in (
    desk_rendering.static_router,
    desk_compose.router,
    desk_stories.router,
    desk_status.router,
    desk_digest.router,
    desk_readers.router,
    desk_editors.router,
    desk_topics.router,
):
    router.include_router(section)
