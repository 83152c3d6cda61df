"""Fixtures for the editor side: a newsroom with an editor, an API token, and social destinations.

Social destinations are real endpoints on 127.0.0.1: the outlet's Telegram channel lives on the fake Bot API,
and the "other network" is a webhook that Apprise posts to through its ``json://`` target.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from telegram import Update

from bot.app.config import Settings
from bot.app.newsroom import Newsroom
from bot.app.telegram_bot import NewsbotApplication, build_application
from bot.stories.intake import prepare_story
from bot.stories.parsing import read_story_file
from bot.stories.story import Story
from subscribers.schema import Cadence, ChannelName
from tests.fakes import FakeBotAPI
from tests.fakes.clock import ManualClock
from tests.fakes.http_endpoints import FeedHost, Webhook
from tests.newsroom_fixtures import SAMPLE_STORY, add_reader

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


class EditorChat:
    """Talk to the bot as a Telegram user; each update is fully handled before the call returns."""

    def __init__(self, application: NewsbotApplication, api: FakeBotAPI) -> None:
        self.application = application
        self.api = api

    async def send(self, text: str, *, user_id: int = EDITOR, chat_id: int | None = None) -> list[str]:
        """Send a message; returns the texts the bot sent in answer."""
        before = len(self.api.sent_messages)
        update = self.api.push_message(chat_id if chat_id is not None else user_id, text, user_id=user_id)
        await self.application.process_update(Update.de_json(update, self.application.bot))
        return [sent.text for sent in self.api.sent_messages[before:]]

    async def process(self, update: dict[str, Any]) -> None:
        """Hand one update (as pushed into the fake) to the bot and wait until it is handled."""
        await self.application.process_update(Update.de_json(update, self.application.bot))

    async def send_file(
        self, content: bytes, file_name: str, *, caption: str | None = None, user_id: int = EDITOR
    ) -> list[str]:
        """Send a document (served by the fake's getFile); returns the texts the bot sent in answer."""
        before = len(self.api.sent_messages)
        document = self.api.add_file(content, file_name=file_name)
        update = self.api.push_document(user_id, document, caption=caption, user_id=user_id)
        await self.application.process_update(Update.de_json(update, self.application.bot))
        return [sent.text for sent in self.api.sent_messages[before:]]

    async def tap(self, message: dict[str, Any], label: str, *, user_id: int = EDITOR) -> dict[str, Any]:
        """Press the button whose label contains *label*; returns the bot's answerCallbackQuery parameters."""
        data = next(d for text, d in buttons(message) if label in text)
        return await self.tap_data(message, data, user_id=user_id)

    async def tap_data(self, message: dict[str, Any], data: str, *, user_id: int = EDITOR) -> dict[str, Any]:
        chat_id = message["chat"]["id"]
        mark = len(self.api.calls)
        update = self.api.push_callback_query(chat_id, message["message_id"], data, user_id=user_id)
        await self.application.process_update(Update.de_json(update, self.application.bot))
        answers = [params for method, params in self.api.calls[mark:] if method.lower() == "answercallbackquery"]
        assert answers, f"the button {data!r} was not answered"
        return answers[-1]

    def message(self, chat_id: int, message_id: int) -> dict[str, Any]:
        return self.api.messages[(chat_id, message_id)]

    def panel(self, chat_id: int = EDITOR) -> dict[str, Any]:
        """The latest message with a Send button: the review panel of the open draft."""
        panels = [m for (chat, _), m in sorted(self.api.messages.items()) if chat == chat_id and has_send(m)]
        assert panels, "the bot showed no review panel"
        return panels[-1]


def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [(button["text"], button.get("callback_data", "")) for row in rows for button in row]


def has_send(message: dict[str, Any]) -> bool:
    return any(text.startswith("Send to") for text, _ in buttons(message))


@pytest.fixture(name="desk_clock")
def desk_clock_fixture(desk: Newsroom) -> ManualClock:
    """The desk's clock, moved by the tests: parts of a paste arrive "at once" unless a test moves it."""
    desk.clock = ManualClock()
    return desk.clock


@pytest.fixture(name="editor_chat")
async def editor_chat_fixture(
    desk: Newsroom, desk_clock: ManualClock, bot_api: FakeBotAPI
) -> AsyncIterator[EditorChat]:
    """The bot's Application (with its JobQueue, not started: tests run its jobs) against the fake Bot API."""
    application = build_application(desk, polling=False)
    async with application:
        yield EditorChat(application, bot_api)


@pytest.fixture(name="readers")
async def readers_fixture(desk: Newsroom) -> None:
    """Followers of north-korea: an instant chat, a weekly chat, an instant email; and a sports-only chat."""
    await add_reader(desk, "north-korea", telegram_chat="101")
    await add_reader(desk, "north-korea", telegram_chat="102", cadences={ChannelName.TELEGRAM: Cadence.WEEKLY})
    await add_reader(desk, "north-korea", email="nk@example.org", cadences={ChannelName.EMAIL: Cadence.INSTANT})
    await add_reader(desk, "sports", telegram_chat="103")
