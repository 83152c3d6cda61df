"""newsbot's web side: one FastAPI app, built explicitly from a newsroom, with one router per concern.

``newsbot run`` serves it under uvicorn in the same event loop as the bot and the delivery worker, and passes it
the process's email channel. Routers live in sibling modules and get the newsroom and that channel from
``request.app.state`` (:mod:`bot.web.app_state`).
"""

from __future__ import annotations

from fastapi import FastAPI

import bot
from bot.app.newsroom import Newsroom
from bot.channels import Channel
from bot.readers.confirmation_notices import ChatNotices
from bot.web import (
    desk_auth,
    desk_pages,
    errors,
    ghost_webhook,
    health,
    metrics_endpoint,
    reader_pages,
    stories_api,
    story_changes_api,
    story_control_api,
    story_pages,
)
from bot.web.app_state import lifespan


def create_app(
    newsroom: Newsroom, *, email_channel: Channel | None = None, telegram_channel: Channel | None = None
) -> FastAPI:
    """The web app for *newsroom*; nothing global, so tests build one per store.

    *email_channel* (``newsbot run`` passes its own) sends confirmation emails; without one the app opens its own
    on first use and closes it at shutdown. *telegram_channel* tells a reader's chat that their email address was
    confirmed; without one nothing is said there.
    """
    app = FastAPI(
        title="newsbot",
        version=bot.__version__,
        summary="Newsletter and social distribution for a newsroom",
        lifespan=lifespan,
    )
    app.state.newsroom = newsroom
    app.state.email_channel = email_channel
    app.state.chat_notices = ChatNotices(newsroom, telegram_channel) if telegram_channel is not None else None
    errors.install(app)
    app.include_router(health.router)
    app.include_router(metrics_endpoint.router)  # off unless NEWSBOT_METRICS=1 or behind NEWSBOT_API_TOKEN
    app.include_router(stories_api.router)
    app.include_router(story_control_api.router)
    app.include_router(story_changes_api.router)
    app.include_router(ghost_webhook.router)  # Ghost's own payloads, signed; not in the schema
    app.include_router(reader_pages.router, include_in_schema=False)  # browser pages, not part of the API
    app.include_router(story_pages.router, include_in_schema=False)  # public story pages, archives and feeds
    desk_auth.install(app)  # the desk's sign-in, sessions and their answers
    app.include_router(desk_pages.router, include_in_schema=False)  # the editors' desk pages
    return app
