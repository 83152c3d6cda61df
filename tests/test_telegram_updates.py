"""An update python-telegram-bot cannot parse is skipped, logged once, and the bot keeps serving (issue 10, point 6)."""

from __future__ import annotations

import logging
import re

import httpx
import pytest

from bot.app.config import Settings
from bot.app.telegram_updates import screen_updates
from bot.web.telegram_webhook import SECRET_HEADER, webhook_secret
from tests.fakes import FakeBotAPI
from tests.telegram_session import ChatSession, chat, eventually, live_settings, running_service
from tests.test_webhook import WEBHOOK_URL, command

__all__ = ["chat"]  # the fixture, imported for this module's tests

READER = 6001


def skipped_records(caplog: pytest.LogCaptureFixture, update_id: int) -> list[logging.LogRecord]:
    pattern = re.compile(rf"\bupdate {update_id}\b")
    return [record for record in caplog.records if pattern.search(record.getMessage())]


async def test_polling_skips_an_unparseable_update_logs_it_once_and_answers_the_next(
    chat: ChatSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bad = chat.api.push_malformed_message(READER, "/start", date="yesterday")
    reply = await chat.say(READER, "/help")
    assert "/follow" in reply["text"]

    # The offset moves past the bad update: it is fetched once, not again and again. The reply can come
    # before the next poll confirms the batch, so wait for that poll rather than read the offsets once.
    def confirmed_past_bad() -> bool:
        offsets = [int(params.get("offset") or 0) for params in chat.api.calls_to("getUpdates")]
        return max(offsets, default=0) > bad["update_id"]

    await eventually(confirmed_past_bad, what="a getUpdates call past the bad update")
    assert len(chat.api.calls_to("getUpdates")) < 10
    (record,) = skipped_records(caplog, bad["update_id"])
    assert record.levelno == logging.WARNING and "yesterday" not in record.getMessage()
    assert not [record for record in caplog.records if record.exc_info], "no traceback in the log"
    assert sum(len(record.getMessage()) for record in caplog.records) < 20_000


async def test_a_batch_that_ends_with_unparseable_updates_is_confirmed_whole(
    settings: Settings, bot_api: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    good = bot_api.push_message(READER, "/help")
    bad = [
        bot_api.push_malformed_message(READER, "/start", chat=5),
        bot_api.push_malformed_message(READER + 1, "/start", entities="oops"),
    ]
    async with running_service(live_settings(settings, bot_api)):
        await eventually(lambda: bot_api.sent_to(READER), what="the answer to the good update")
        later = bot_api.push_message(READER + 2, "/help")
        await eventually(lambda: bot_api.sent_to(READER + 2), what="the answer to an update after the bad ones")
    assert len(bot_api.sent_to(READER)) == 1 and not bot_api.sent_to(READER + 1)
    for update in bad:
        assert len(skipped_records(caplog, update["update_id"])) == 1
    assert good["update_id"] < later["update_id"]
    assert len(bot_api.calls_to("getUpdates")) < 10


async def test_a_webhook_update_that_cannot_be_parsed_is_acknowledged_so_telegram_does_not_resend_it(
    settings: Settings, bot_api: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    live = live_settings(settings, bot_api, webhook_url=WEBHOOK_URL)
    headers = {SECRET_HEADER: webhook_secret(settings)}
    async with running_service(live) as service, httpx.AsyncClient(base_url=service.web_url) as client:
        broken = command(41, READER, "/start")
        broken["message"]["date"] = "yesterday"
        answer = await client.post("/telegram/webhook", json=broken, headers=headers)
        assert answer.status_code == 200
        answer = await client.post("/telegram/webhook", json=command(42, READER, "/help"), headers=headers)
        assert answer.status_code == 200
        await eventually(lambda: bot_api.sent_to(READER), what="the answer to the update after the bad one")
    assert len(bot_api.sent_to(READER)) == 1
    assert len(skipped_records(caplog, 41)) == 1


def test_screening_keeps_good_updates_and_leaves_only_the_id_of_bad_ones(caplog: pytest.LogCaptureFixture) -> None:
    good = command(7, READER, "/help")
    broken = command(8, READER, "/help") | {"message": {"date": 10**30}}
    nameless = {"message": {"text": "no update_id"}}
    assert screen_updates([good, broken, nameless]) == [good, {"update_id": 8}]
    assert screen_updates(True) is True  # anything but a list of updates passes through
    assert len(skipped_records(caplog, 8)) == 1
