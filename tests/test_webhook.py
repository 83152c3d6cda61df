"""Webhook mode: Telegram POSTs updates to the web side, which checks the secret token on every request."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bot.app.config import DEVELOPMENT_SECRET, Settings
from bot.web.telegram_webhook import SECRET_HEADER, webhook_secret
from tests.fakes import FakeBotAPI
from tests.telegram_session import ChatSession, eventually, live_settings, running_service

WEBHOOK_URL = "https://news.example.org/telegram/webhook"
READER = 5001


def command(update_id: int, chat_id: int, text: str) -> dict[str, Any]:
    """An Update carrying a command, in the Bot API's JSON shape."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": {"id": chat_id, "is_bot": False, "first_name": "Reader"},
            "chat": {"id": chat_id, "type": "private", "first_name": "Reader"},
            "date": int(time.time()),
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
        },
    }


@pytest.fixture
async def hooked(settings: Settings, bot_api: FakeBotAPI) -> AsyncIterator[tuple[ChatSession, httpx.AsyncClient]]:
    live = live_settings(settings, bot_api, webhook_url=WEBHOOK_URL)
    async with running_service(live) as service, httpx.AsyncClient(base_url=service.web_url) as client:
        yield ChatSession(bot_api, service), client


async def test_webhook_mode_registers_the_url_with_a_secret_and_does_not_poll(
    hooked: tuple[ChatSession, httpx.AsyncClient], settings: Settings
) -> None:
    chat, _ = hooked
    (registered,) = chat.api.calls_to("setWebhook")
    assert registered["url"] == WEBHOOK_URL
    assert registered["secret_token"] == webhook_secret(settings)
    assert set(registered["allowed_updates"]) == {"message", "channel_post", "callback_query", "my_chat_member"}
    assert chat.api.calls_to("getUpdates") == []


async def test_an_update_without_the_right_secret_is_refused_and_nothing_is_processed(
    hooked: tuple[ChatSession, httpx.AsyncClient], settings: Settings
) -> None:
    chat, client = hooked
    path = "/telegram/webhook"
    forged = await client.post(path, json=command(1, READER, "/follow sports"), headers={SECRET_HEADER: "guess"})
    unsigned = await client.post(path, json=command(2, READER, "/follow weather"))
    assert forged.status_code == 403 and unsigned.status_code == 403

    genuine = await client.post(
        path, json=command(3, READER, "/follow local"), headers={SECRET_HEADER: webhook_secret(settings)}
    )
    assert genuine.status_code == 200
    await eventually(lambda: chat.api.sent_to(READER), what="the answer to the genuine update")
    assert len(chat.api.sent_to(READER)) == 1 and "You now follow Local" in chat.latest(READER)["text"]
    assert (await chat.reader(READER)).topics == ["local"]


async def test_a_malformed_update_with_the_right_secret_is_a_bad_request(
    hooked: tuple[ChatSession, httpx.AsyncClient], settings: Settings
) -> None:
    _, client = hooked
    answer = await client.post(
        "/telegram/webhook",
        content=b"{not json",
        headers={SECRET_HEADER: webhook_secret(settings), "content-type": "application/json"},
    )
    assert answer.status_code == 400


async def test_a_configured_secret_is_used_instead_of_the_derived_one(settings: Settings, bot_api: FakeBotAPI) -> None:
    chosen = "newsroom-chosen_secret-0123456789abcdef"
    live = live_settings(settings, bot_api, webhook_url=WEBHOOK_URL, webhook_secret=chosen)
    async with running_service(live) as service, httpx.AsyncClient(base_url=service.web_url) as client:
        assert bot_api.calls_to("setWebhook")[0]["secret_token"] == chosen
        derived = await client.post(
            "/telegram/webhook", json=command(1, READER, "/help"), headers={SECRET_HEADER: webhook_secret(settings)}
        )
        assert derived.status_code == 403
        answer = await client.post(
            "/telegram/webhook", json=command(2, READER, "/help"), headers={SECRET_HEADER: chosen}
        )
        assert answer.status_code == 200
        await eventually(lambda: bot_api.sent_to(READER), what="the answer to /help")


def test_the_derived_secret_is_stable_and_fits_telegrams_rules(settings: Settings) -> None:
    secret = webhook_secret(settings)
    assert secret == webhook_secret(settings.model_copy())
    assert secret != webhook_secret(settings.model_copy(update={"secret_key": "another"}))
    assert 1 <= len(secret) <= 256 and secret.isalnum()
    assert webhook_secret(settings, "the-store-secret-of-this-newsroom-0001") != secret  # the newsroom's wins
    with pytest.raises(ValueError, match="no signing secret"):
        webhook_secret(settings.model_copy(update={"secret_key": ""}))


async def test_with_no_secret_key_the_webhook_refuses_the_hmac_of_the_old_public_default(
    settings: Settings, bot_api: FakeBotAPI
) -> None:
    live = live_settings(settings.model_copy(update={"secret_key": ""}), bot_api, webhook_url=WEBHOOK_URL)
    old_default = hmac.new(DEVELOPMENT_SECRET.encode(), b"telegram-webhook", hashlib.sha256).hexdigest()
    async with running_service(live) as service, httpx.AsyncClient(base_url=service.web_url) as client:
        assert service.newsroom is not None and service.newsroom.secret.source == "store"
        real = webhook_secret(live, service.newsroom.secret.value)
        assert bot_api.calls_to("setWebhook")[0]["secret_token"] == real != old_default
        forged = await client.post(
            "/telegram/webhook", json=command(1, READER, "/stop"), headers={SECRET_HEADER: old_default}
        )
        assert forged.status_code == 403
        genuine = await client.post(
            "/telegram/webhook", json=command(2, READER, "/help"), headers={SECRET_HEADER: real}
        )
        assert genuine.status_code == 200
        await eventually(lambda: bot_api.sent_to(READER), what="the answer to /help")
    assert len(bot_api.sent_to(READER)) == 1
