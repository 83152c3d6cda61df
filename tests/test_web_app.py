"""The web app sends confirmation emails through the process's channel, or through one it opens and closes itself."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request

from bot.app.newsroom import Newsroom
from bot.channels import Channel, Receipt
from bot.web import app_state, create_app


class RecordingChannel:
    """A channel that only remembers whether it was closed."""

    description = "email: recording"

    def __init__(self) -> None:
        self.closed = False

    async def send(self, message: Any) -> Receipt:
        raise AssertionError("nothing is sent here")

    async def aclose(self) -> None:
        self.closed = True


def request_to(app: Any) -> Request:
    return Request({"type": "http", "app": app, "method": "GET", "path": "/", "headers": []})


async def test_the_process_channel_is_used_and_left_open(newsroom: Newsroom) -> None:
    shared = RecordingChannel()
    app = create_app(newsroom, email_channel=shared)  # type: ignore[arg-type]
    async with app.router.lifespan_context(app):
        assert app_state.email_channel_of(request_to(app)) is shared
    assert not shared.closed, "the process closes its own channel"


async def test_a_standalone_app_opens_its_channel_once_and_closes_it_at_shutdown(
    newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[RecordingChannel] = []

    def build(settings: Any, *, only: Any = (), live: bool = True) -> dict[str, Channel]:
        assert list(only) == ["email"]
        opened.append(RecordingChannel())
        return {"email": opened[-1]}  # type: ignore[dict-item]

    monkeypatch.setattr(app_state, "build_channels", build)
    app = create_app(newsroom)
    async with app.router.lifespan_context(app):
        first = app_state.email_channel_of(request_to(app))
        assert app_state.email_channel_of(request_to(app)) is first
    assert len(opened) == 1 and opened[0].closed
    assert app.state.email_channel is None
