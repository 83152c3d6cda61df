"""TelegramChannel sends through python-telegram-bot over real HTTP and folds Telegram's errors into the contract."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from telegram.error import NetworkError
from telegram.ext import AIORateLimiter, ExtBot
from telegram.request import HTTPXRequest

from bot.app.config import Settings
from bot.channels import (
    Channel,
    ChannelUnreachable,
    OutgoingMessage,
    PermanentFailure,
    RecipientGone,
    RecipientMoved,
    TemporaryFailure,
)
from bot.channels.telegram import TelegramChannel
from bot.channels.telegram_http import AiohttpRequest
from tests.fakes import FakeBotAPI, SentMessage

TOKEN = "123:ABC"


def settings_for(api_url: str, tmp_path: Path) -> Settings:
    return Settings(telegram_api_url=api_url, telegram_token=TOKEN, data_dir=tmp_path)


@pytest.fixture
async def channel(bot_api: FakeBotAPI, tmp_path: Path) -> AsyncIterator[TelegramChannel]:
    channel = TelegramChannel.from_settings(settings_for(bot_api.base_url, tmp_path))
    yield channel
    await channel.aclose()


def message(address: str = "42", content: str | bytes = "<b>Council</b> votes &amp; more") -> OutgoingMessage:
    return OutgoingMessage(key="d-1", address=address, content=content)


async def test_it_satisfies_the_channel_contract(channel: TelegramChannel) -> None:
    assert isinstance(channel, Channel)
    assert channel.name == "telegram"


async def test_send_delivers_html_over_http_and_returns_the_message_id(
    channel: TelegramChannel, bot_api: FakeBotAPI
) -> None:
    first = await channel.send(message())
    second = await channel.send(message())
    assert (first.provider_id, second.provider_id) == ("1", "2")
    assert bot_api.sent_messages[0] == SentMessage(42, "<b>Council</b> votes &amp; more", "HTML")
    assert bot_api.messages[(42, 1)]["entities"] == [{"type": "bold", "offset": 0, "length": 7}]


async def test_supergroup_and_channel_username_addresses_are_accepted(
    channel: TelegramChannel, bot_api: FakeBotAPI
) -> None:
    bot_api.add_chat("@gazette", type="channel", title="Gazette")
    await channel.send(message("-1001234"))
    await channel.send(message("@gazette"))
    assert [sent.chat_id for sent in bot_api.sent_messages] == [-1001234, "@gazette"]


async def test_a_burst_of_first_sends_initialises_the_bot_once(channel: TelegramChannel, bot_api: FakeBotAPI) -> None:
    await asyncio.gather(*(channel.send(message(str(chat))) for chat in range(1, 21)))
    assert len(bot_api.calls_to("getMe")) == 1
    assert len(bot_api.sent_messages) == 20


async def test_flood_control_is_a_temporary_failure_carrying_retry_after(
    channel: TelegramChannel, bot_api: FakeBotAPI
) -> None:
    bot_api.fail_next("sendMessage", 429, retry_after=7)
    with pytest.raises(TemporaryFailure) as failure:
        await channel.send(message())
    assert failure.value.retry_after == 7.0
    assert str(failure.value) == "telegram 429: retry after 7s"


async def test_the_fake_servers_rate_limit_surfaces_as_retry_after_one_second(
    channel: TelegramChannel, bot_api: FakeBotAPI
) -> None:
    bot_api.rate_limit(per_second=2)
    results = await asyncio.gather(*(channel.send(message()) for _ in range(3)), return_exceptions=True)
    failures = [result for result in results if isinstance(result, TemporaryFailure)]
    assert len(failures) == 1 and failures[0].retry_after == 1.0


@pytest.mark.parametrize(
    ("setup", "address", "reason"),
    [
        ("block", "42", "telegram 403: Forbidden: bot was blocked by the user"),
        ("block", "-42", "telegram 403: Forbidden: bot was kicked from the group chat"),
        ("deactivate", "42", "telegram 403: Forbidden: user is deactivated"),
        ("forget", "42", "telegram 400: Chat not found"),
    ],
)
async def test_dead_chats_are_recipient_gone(
    channel: TelegramChannel, bot_api: FakeBotAPI, setup: str, address: str, reason: str
) -> None:
    getattr(bot_api, setup)(int(address))
    with pytest.raises(RecipientGone) as failure:
        await channel.send(message(address))
    assert failure.value.reason == reason


async def test_a_user_deactivated_bad_request_is_recipient_gone(channel: TelegramChannel, bot_api: FakeBotAPI) -> None:
    bot_api.fail_next("sendMessage", 400, description="Bad Request: USER_IS_DEACTIVATED user is deactivated")
    with pytest.raises(RecipientGone):
        await channel.send(message())


async def test_a_migrated_group_is_recipient_moved_and_the_new_id_works(
    channel: TelegramChannel, bot_api: FakeBotAPI
) -> None:
    bot_api.migrate(-42, -1009876)
    with pytest.raises(RecipientMoved) as failure:
        await channel.send(message("-42"))
    assert failure.value.new_address == "-1009876"
    receipt = await channel.send(message(failure.value.new_address))
    assert receipt.provider_id == "1"
    assert bot_api.sent_to(-1009876) == ["<b>Council</b> votes &amp; more"]


@pytest.mark.parametrize(
    "content",
    ["<script>alert(1)</script>", "Fish & chips", "<b>unclosed", "x" * 4097],
    ids=["script-tag", "bare-ampersand", "unclosed-tag", "too-long"],
)
async def test_content_telegram_refuses_is_a_permanent_failure(channel: TelegramChannel, content: str) -> None:
    with pytest.raises(PermanentFailure) as failure:
        await channel.send(message(content=content))
    assert failure.value.reason.startswith("telegram 400: ")


async def test_bytes_content_is_a_permanent_failure_without_a_request(
    channel: TelegramChannel, bot_api: FakeBotAPI
) -> None:
    with pytest.raises(PermanentFailure):
        await channel.send(message(content=b"<b>bytes</b>"))
    assert bot_api.calls == []


async def test_an_address_that_is_no_chat_id_is_recipient_gone(channel: TelegramChannel) -> None:
    with pytest.raises(RecipientGone):
        await channel.send(message("reader@example.org"))


@pytest.mark.parametrize("code", [500, 502])
async def test_server_errors_are_temporary(channel: TelegramChannel, bot_api: FakeBotAPI, code: int) -> None:
    bot_api.fail_next("sendMessage", code)
    with pytest.raises(ChannelUnreachable) as failure:  # the Bot API, not the message: the channel pauses
        await channel.send(message())
    assert failure.value.retry_after is None


async def test_a_slow_api_is_a_temporary_timeout(bot_api: FakeBotAPI) -> None:
    answers = bot_api.hold("sendMessage")  # no answer until the client has given up
    bot = ExtBot(TOKEN, base_url=f"{bot_api.base_url}/bot", request=HTTPXRequest(read_timeout=0.05))
    channel = TelegramChannel(bot)
    try:
        with pytest.raises(TemporaryFailure) as failure:
            await channel.send(message())
        assert failure.value.reason == "timeout"
    finally:
        answers.set()
        await channel.aclose()


async def test_an_unreachable_api_is_temporary(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    channel = TelegramChannel.from_settings(settings_for(f"http://127.0.0.1:{closed_port}", tmp_path))
    with pytest.raises(ChannelUnreachable) as failure:
        await channel.send(message())
    assert failure.value.reason.startswith("telegram network error")
    await channel.aclose()


async def test_a_rejected_token_is_temporary_so_queued_messages_survive_until_it_is_fixed(tmp_path: Path) -> None:
    async with FakeBotAPI(token="999:RIGHT") as api:
        channel = TelegramChannel.from_settings(settings_for(api.base_url, tmp_path))
        with pytest.raises(ChannelUnreachable) as failure:
            await channel.send(message())
        await channel.aclose()
    assert failure.value.reason.startswith("telegram 401")


async def test_aclose_shuts_down_an_owned_bot_but_leaves_a_shared_one_running(bot_api: FakeBotAPI) -> None:
    shared = ExtBot(TOKEN, base_url=f"{bot_api.base_url}/bot")
    borrowing = TelegramChannel(shared, owns_bot=False)
    await borrowing.send(message())
    await borrowing.aclose()
    assert (await shared.send_message(chat_id=42, text="still open")).message_id == 2
    owning = TelegramChannel(shared)
    await owning.send(message())
    await owning.aclose()
    # PTB wraps "This HTTPXRequest is not initialized!" in a NetworkError once the bot is shut down.
    with pytest.raises(NetworkError, match="not initialized"):
        await shared.send_message(chat_id=42, text="closed")


async def test_a_closed_channel_reopens_on_the_next_send(channel: TelegramChannel, bot_api: FakeBotAPI) -> None:
    await channel.send(message())
    await channel.aclose()
    assert (await channel.send(message())).provider_id == "2"
    assert len(bot_api.calls_to("getMe")) == 2


async def test_link_previews_can_be_switched_off(bot_api: FakeBotAPI) -> None:
    channel = TelegramChannel(ExtBot(TOKEN, base_url=f"{bot_api.base_url}/bot"), link_previews=False)
    await channel.send(message())
    await channel.aclose()
    assert bot_api.calls_to("sendMessage")[0]["link_preview_options"] == {"is_disabled": True}


async def test_the_description_names_the_api_but_never_the_token(channel: TelegramChannel, bot_api: FakeBotAPI) -> None:
    assert channel.description == f"telegram: Bot API at {bot_api.base_url}"
    assert TOKEN not in channel.description


async def test_a_ptb_rate_limiter_can_be_plugged_in(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    limiter = AIORateLimiter()
    channel = TelegramChannel.from_settings(settings_for(bot_api.base_url, tmp_path), rate_limiter=limiter)
    assert isinstance(channel.bot, ExtBot) and channel.bot.rate_limiter is limiter
    await channel.send(message())
    await channel.aclose()
    assert len(bot_api.sent_messages) == 1


async def test_the_aiohttp_backend_turns_a_slow_api_into_a_temporary_timeout(bot_api: FakeBotAPI) -> None:
    answers = bot_api.hold("sendMessage")  # no answer until the client has given up
    request = AiohttpRequest(read_timeout=0.05)
    channel = TelegramChannel(ExtBot(TOKEN, base_url=f"{bot_api.base_url}/bot", request=request))
    try:
        with pytest.raises(TemporaryFailure) as failure:
            await channel.send(message())
        assert failure.value.reason == "timeout"
    finally:
        answers.set()
        await channel.aclose()


async def test_the_aiohttp_backend_keeps_its_connections_alive(bot_api: FakeBotAPI, tmp_path: Path) -> None:
    channel = TelegramChannel.from_settings(settings_for(bot_api.base_url, tmp_path))
    assert isinstance(channel.bot.request, AiohttpRequest)
    for chat in range(1, 6):
        await channel.send(message(str(chat)))
    connector = channel.bot.request._session.connector  # type: ignore[attr-defined]
    await channel.aclose()
    assert len(bot_api.sent_messages) == 5
    assert connector is not None and connector.limit == Settings().sends_in_flight


async def test_a_shut_down_aiohttp_backend_refuses_requests_until_initialised_again(bot_api: FakeBotAPI) -> None:
    request = AiohttpRequest()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request(f"{bot_api.base_url}/bot{TOKEN}/getMe", "POST")
    await request.initialize()
    status, body = await request.do_request(f"{bot_api.base_url}/bot{TOKEN}/getMe", "POST")
    await request.shutdown()
    assert status == 200 and b'"ok":true' in body
