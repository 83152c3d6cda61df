"""Driving the running bot as readers do: updates pushed into the fake Bot API, answers read from what it recorded.

`running_service` starts the whole `newsbot run` service (bot, web side, worker, scheduler) as a task in the test's
event loop against the fake Bot API; `ChatSession` sends messages and presses buttons and waits, within a bound,
for the bot's answer. Nothing here sleeps for a fixed time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from bot.app.config import Settings
from bot.app.newsroom import Newsroom
from bot.app.process import Service
from bot.stories.intake import IngestResult, ingest_story, prepare_story
from bot.stories.parsing import parse_story, read_story_file
from subscribers import chat_readers
from tests.fakes import FakeBotAPI
from tests.newsroom_fixtures import SAMPLE_STORY

TOKEN = "123456:TEST"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Newsbot", "username": "newsbot_test_bot"}
T = TypeVar("T")


async def eventually(check: Callable[[], T], *, what: str, within: float = 15.0) -> T:
    """Poll *check* until it returns something truthy; fail naming *what* if it never does."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.01)


async def eventually_async(check: Callable[[], Awaitable[T]], *, what: str, within: float = 15.0) -> T:
    """`eventually` for a check that must query something, e.g. the store."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.01)


def live_settings(settings: Settings, api: FakeBotAPI, **changes: Any) -> Settings:
    """The test settings with the bot talking to the fake Bot API and the web side on a free port."""
    return settings.model_copy(
        update={"telegram_token": TOKEN, "telegram_api_url": api.base_url, "web_port": 0, **changes}
    )


@asynccontextmanager
async def running_service(settings: Settings) -> AsyncIterator[Service]:
    """`newsbot run` as a task in this event loop, stopped (gracefully) on the way out."""
    service = Service(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    ready = asyncio.ensure_future(service.ready.wait())
    await asyncio.wait([ready, task], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        ready.cancel()
        task.result()  # raises the start-up failure
    try:
        yield service
    finally:
        stop.set()
        await task


@dataclass
class ChatSession:
    api: FakeBotAPI
    service: Service

    @property
    def newsroom(self) -> Newsroom:
        assert self.service.newsroom is not None
        return self.service.newsroom

    def latest(self, chat_id: int) -> dict[str, Any]:
        """The newest message the bot sent (or edited) in a chat, in Bot API shape."""
        ids = [message_id for (chat, message_id) in self.api.messages if chat == chat_id]
        assert ids, f"the bot never wrote to chat {chat_id}"
        return self.api.messages[(chat_id, max(ids))]

    async def say(
        self, chat_id: int, text: str, *, user_id: int | None = None, language_code: str | None = None
    ) -> dict[str, Any]:
        """Send *text* as a reader (whose app is in *language_code*) and return the bot's reply message."""
        before = len(self.api.sent_messages)
        self.api.push_message(chat_id, text, user_id=user_id, language_code=language_code)
        await eventually(
            lambda: any(sent.chat_id == chat_id for sent in self.api.sent_messages[before:]),
            what=f"a reply to {text!r} in chat {chat_id}",
        )
        return self.latest(chat_id)

    async def press(self, chat_id: int, message_id: int, data: str, *, user_id: int | None = None) -> dict[str, Any]:
        """Press a button and return the bot's answerCallbackQuery parameters (its last call for a button)."""
        mark = len(self.api.calls)
        update = self.api.push_callback_query(chat_id, message_id, data, user_id=user_id)
        query_id = update["callback_query"]["id"]

        def answered() -> dict[str, Any] | None:
            for method, params in self.api.calls[mark:]:
                if method.lower() == "answercallbackquery" and str(params.get("callback_query_id")) == query_id:
                    return params
            return None

        return await eventually(answered, what=f"an answer to the button {data!r}")

    async def reader(self, chat_id: int) -> chat_readers.ChatReader | None:
        async with self.newsroom.engine.connect() as conn:
            return await chat_readers.find_chat_reader(conn, str(chat_id))

    async def wait_for_status(self, chat_id: int, status: str) -> None:
        """Wait until the chat's address has *status* (after an update the bot answers silently)."""

        async def reached() -> bool:
            reader = await self.reader(chat_id)
            return reader is not None and reader.status == status

        await eventually_async(reached, what=f"chat {chat_id} to become {status}")


def buttons(message: dict[str, Any]) -> list[list[tuple[str, str]]]:
    """The inline keyboard of a message as rows of (label, callback data)."""
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [[(button["text"], button.get("callback_data", "")) for button in row] for row in rows]


def labels(message: dict[str, Any]) -> list[str]:
    return [label for row in buttons(message) for label, _ in row]


@pytest.fixture
async def chat(settings: Settings, bot_api: FakeBotAPI) -> AsyncIterator[ChatSession]:
    """The service running against the fake Bot API, and a way to talk to it."""
    async with running_service(live_settings(settings, bot_api)) as service:
        yield ChatSession(bot_api, service)


async def ingest_sample(session: ChatSession, text: str | None = None) -> IngestResult:
    """Ingest the sample story (or *text*) as `newsbot ingest` would, and wake the running worker."""
    newsroom = session.newsroom
    draft = (
        read_story_file(SAMPLE_STORY, newsroom.settings.max_story_bytes)
        if text is None
        else parse_story(text, max_bytes=newsroom.settings.max_story_bytes)
    )
    story = prepare_story(draft, settings=newsroom.settings, taxonomy=newsroom.taxonomy, tagger=newsroom.tagger)
    result = await ingest_story(newsroom, story)
    assert session.service.worker is not None
    session.service.worker.wake()
    return result


def bot_member(status: str) -> dict[str, Any]:
    """The bot's ChatMember object in the shape the Bot API documents for *status*."""
    if status == "administrator":
        rights = (
            "can_manage_chat", "can_delete_messages", "can_manage_video_chats", "can_restrict_members",
            "can_promote_members", "can_change_info", "can_invite_users", "can_post_stories", "can_edit_stories",
            "can_delete_stories", "can_post_messages", "can_edit_messages",
        )  # fmt: skip
        return {"status": status, "user": BOT_USER, "can_be_edited": False, "is_anonymous": False} | dict.fromkeys(
            rights, True
        )
    if status == "kicked":
        return {"status": status, "user": BOT_USER, "until_date": 0}
    return {"status": status, "user": BOT_USER}


def my_chat_member(chat: dict[str, Any], old: str, new: str, *, by: int = 42) -> dict[str, Any]:
    """A ``my_chat_member`` update: someone changed the bot's status in *chat* from *old* to *new*."""
    return {
        "my_chat_member": {
            "chat": chat,
            "from": {"id": by, "is_bot": False, "first_name": "Admin"},
            "date": int(time.time()),
            "old_chat_member": bot_member(old),
            "new_chat_member": bot_member(new),
        }
    }
