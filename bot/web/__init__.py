"""newsbot's web side: one FastAPI app, built explicitly from a newsroom, with one router per concern.

``newsbot run`` serves it under uvicorn in the same event loop as the bot and the delivery worker. Routers live
in sibling modules and get the newsroom from ``request.app.state`` (see :func:`newsroom_of`).
"""

from __future__ import annotations

from fastapi import FastAPI, Request

import bot
from bot.app.newsroom import Newsroom
from bot.web import errors, health, reader_pages, stories_api


def create_app(newsroom: Newsroom) -> FastAPI:
    """The web app for *newsroom*; nothing global, so tests build one per store."""
    app = FastAPI(title="newsbot", version=bot.__version__, summary="Newsletter and social distribution for a newsroom")
    app.state.newsroom = newsroom
    errors.install(app)
    app.include_router(health.router)
    app.include_router(stories_api.router)
    app.include_router(reader_pages.router, include_in_schema=False)  # browser pages, not part of the API
    return app


def newsroom_of(request: Request) -> Newsroom:
    """FastAPI dependency: the newsroom this app was built for."""
    newsroom: Newsroom = request.app.state.newsroom
    return newsroom
