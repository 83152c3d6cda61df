"""Fixtures for the editor side: a newsroom with an editor, an API token, and social destinations.

Social destinations are real endpoints on 127.0.0.1: the outlet's Telegram channel lives on the fake Bot API,
and the "other network" is a webhook that Apprise posts to through its ``json://`` target.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.app.config import Settings
from bot.app.newsroom import Newsroom
from bot.stories.intake import prepare_story
from bot.stories.parsing import read_story_file
from bot.stories.story import Story
from tests.fakes import FakeBotAPI
from tests.fakes.http_endpoints import FeedHost, Webhook
from tests.newsroom_fixtures import SAMPLE_STORY

EDITOR = 4242
OTHER_EDITOR = 4343
READER = 5151
API_TOKEN = "test-api-token-0123456789"
OUTLET_CHANNEL = "@fairview_world"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    with Webhook() as hook:
        yield hook


@pytest.fixture
def feed_host() -> Iterator[FeedHost]:
    with FeedHost() as host:
        yield host


def write_distribution(path: Path, webhook_url: str, *, topic: str = "north-korea") -> Path:
    path.write_text(
        f'[[topic]]\nslug = "{topic}"\ntelegram_channels = ["{OUTLET_CHANNEL}"]\napprise = ["{webhook_url}"]\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def desk_settings(settings: Settings, bot_api: FakeBotAPI, webhook: Webhook, tmp_path: Path) -> Settings:
    """Live Telegram through the fake Bot API, one editor, an API token, north-korea posted to two destinations."""
    bot_api.add_chat(OUTLET_CHANNEL, id=-1001234, type="channel", title="Fairview World", username="fairview_world")
    return settings.model_copy(
        update={
            "telegram_token": "123456:TEST",
            "telegram_api_url": bot_api.base_url,
            "editor_ids": (EDITOR, OTHER_EDITOR),
            "api_token": API_TOKEN,
            "distribution_file": write_distribution(tmp_path / "distribution.toml", webhook.url("json")),
        }
    )


@pytest.fixture
async def desk(desk_settings: Settings) -> AsyncIterator[Newsroom]:
    room = await Newsroom.open(desk_settings)
    try:
        yield room
    finally:
        await room.close()


def sample_story(newsroom: Newsroom, path: Path | None = None, **options: object) -> Story:
    return prepare_story(
        read_story_file(path or SAMPLE_STORY, newsroom.settings.max_story_bytes),
        settings=newsroom.settings,
        taxonomy=newsroom.taxonomy,
        tagger=newsroom.tagger,
        **options,  # type: ignore[arg-type]
    )
