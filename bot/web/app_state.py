"""What every router gets from the app it runs in: the newsroom, and the channel confirmation emails go out through.

``create_app(newsroom, email_channel=...)`` stores both on ``app.state``. ``newsbot run`` passes the email channel
its delivery worker sends through, so the web side opens no connection pool of its own. An app built without one
(tests, a standalone ASGI server) builds its email channel with the one channel factory on first use and closes it
when the app shuts down (:func:`lifespan`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

from bot.app.newsroom import Newsroom
from bot.channels import Channel, build_channels
from bot.readers.confirmation_notices import ChatNotices


def newsroom_of(request: Request) -> Newsroom:
    """FastAPI dependency: the newsroom this app was built for."""
    newsroom: Newsroom = request.app.state.newsroom
    return newsroom


def email_channel_of(request: Request) -> Channel:
    """FastAPI dependency: the process's email channel, else one this app opened (and closes at shutdown)."""
    state = request.app.state
    channel: Channel | None = getattr(state, "email_channel", None)
    if channel is None:
        channel = state.email_channel = state.owned_email_channel = build_channels(
            newsroom_of(request).settings, only=["email"]
        )["email"]
    return channel


def chat_notices_of(request: Request) -> ChatNotices | None:
    """The notices to readers' chats (an email confirmed), when the app was given a Telegram channel."""
    notices: ChatNotices | None = getattr(request.app.state, "chat_notices", None)
    return notices


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Close at shutdown what the app opened itself; a channel the process passed in is the process's to close."""
    try:
        yield
    finally:
        notices: ChatNotices | None = getattr(app.state, "chat_notices", None)
        if notices is not None:
            await notices.drain()
        owned: Channel | None = getattr(app.state, "owned_email_channel", None)
        if owned is not None:
            app.state.owned_email_channel = None
            if getattr(app.state, "email_channel", None) is owned:
                app.state.email_channel = None
            await owned.aclose()
