"""Editing, deleting and replying to messages already sent: the Telegram channel against the fake Bot API, and
email refusing what it cannot do."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from telegram.error import BadRequest

from bot.app.config import Settings
from bot.channels import EmailOutbox, OutgoingMessage, PermanentFailure
from bot.channels.smtp import SmtpChannel
from bot.channels.telegram import TelegramChannel
from tests.fakes import FakeBotAPI, SmtpSink

TOKEN = "123:ABC"


@pytest.fixture
async def channel(bot_api: FakeBotAPI, tmp_path: Path) -> AsyncIterator[TelegramChannel]:
    settings = Settings(telegram_api_url=bot_api.base_url, telegram_token=TOKEN, data_dir=tmp_path)
    channel = TelegramChannel.from_settings(settings)
    yield channel
    await channel.aclose()


def send(text: str = "<b>Council</b> votes", reply_to: str | None = None) -> OutgoingMessage:
    return OutgoingMessage(key="d-1", address="42", content=text, reply_to=reply_to)


def edit(target: str, text: str = "<b>Council</b> votes again") -> OutgoingMessage:
    return OutgoingMessage(key="e-1", address="42", content=text, action="edit", target=target)


def delete(target: str, fallback: str = "<i>Withdrawn</i>") -> OutgoingMessage:
    return OutgoingMessage(key="x-1", address="42", content=fallback, action="delete", target=target)


def test_an_edit_or_delete_without_a_target_is_refused_when_built() -> None:
    with pytest.raises(ValueError, match="target"):
        OutgoingMessage(key="e-1", address="42", content="x", action="edit")


async def test_an_edit_changes_the_text_of_the_message_the_send_returned(
    channel: TelegramChannel, bot_api: FakeBotAPI
) -> None:
    first = await channel.send(send())
    await channel.send(send("<b>Other</b> story"))
    receipt = await channel.send(edit(first.provider_id or ""))
    assert receipt.provider_id == first.provider_id == "1"
    assert bot_api.calls_to("editMessageText")[0]["message_id"] == 1
    assert bot_api.text_of(42, 1) == "Council votes again"
    assert bot_api.text_of(42, 2) == "Other story"


async def test_an_edit_that_changes_nothing_is_a_success(channel: TelegramChannel, bot_api: FakeBotAPI) -> None:
    first = await channel.send(send())
    receipt = await channel.send(edit(first.provider_id or "", "<b>Council</b> votes"))
    assert receipt.provider_id == "1"
    assert bot_api.text_of(42, 1) == "Council votes"


async def test_editing_a_message_that_is_gone_is_a_permanent_failure(channel: TelegramChannel) -> None:
    with pytest.raises(PermanentFailure, match=r"(?i)message to edit not found"):
        await channel.send(edit("99"))


async def test_a_delete_removes_a_young_message(channel: TelegramChannel, bot_api: FakeBotAPI) -> None:
    first = await channel.send(send())
    assert (await channel.send(delete(first.provider_id or ""))).provider_id == "1"
    assert bot_api.text_of(42, 1) is None and (42, 1) in bot_api.deleted
    # Deleting it again: it is gone already, which is what was asked.
    await channel.send(delete("1"))


async def test_a_message_older_than_48_hours_gets_the_fallback_text_instead(
    channel: TelegramChannel, bot_api: FakeBotAPI
) -> None:
    first = await channel.send(send())
    bot_api.age_message(42, 1, hours=49)
    await channel.send(delete(first.provider_id or ""))
    assert bot_api.text_of(42, 1) == "Withdrawn"
    assert [name.lower() for name, _ in bot_api.calls[-2:]] == ["deletemessage", "editmessagetext"]


async def test_a_reply_answers_the_readers_own_copy_and_survives_its_deletion(
    channel: TelegramChannel, bot_api: FakeBotAPI
) -> None:
    original = await channel.send(send())
    reply = await channel.send(send("<b>Update</b>", reply_to=original.provider_id))
    assert bot_api.replies[(42, int(reply.provider_id or 0))] == 1
    assert bot_api.messages[(42, 2)]["reply_to_message"]["message_id"] == 1
    await channel.send(delete("1"))
    orphan = await channel.send(send("<b>Update 2</b>", reply_to="1"))
    assert orphan.provider_id == "3" and (42, 3) not in bot_api.replies


async def test_the_fake_edits_captions_and_refuses_a_caption_edit_of_a_text_message(
    bot_api: FakeBotAPI, channel: TelegramChannel
) -> None:
    await channel.send(send())
    with pytest.raises(BadRequest, match="no caption"):
        await channel.bot.edit_message_caption(chat_id=42, message_id=1, caption="x")
    bot_api.messages[(42, 1)]["caption"] = bot_api.messages[(42, 1)].pop("text")
    await channel.bot.edit_message_caption(chat_id=42, message_id=1, caption="<b>New</b>", parse_mode="HTML")
    assert bot_api.text_of(42, 1) == "New"


async def test_email_refuses_edits_and_deletes(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    smtp = SmtpChannel.from_settings(Settings(smtp_url=smtp_sink.url, data_dir=tmp_path))
    outbox = EmailOutbox(tmp_path / "email")
    try:
        for email in (smtp, outbox):
            for action in ("edit", "delete"):
                change = OutgoingMessage(key="e-1", address="a@example.org", content=b"x", action=action, target="1")
                with pytest.raises(PermanentFailure, match="email cannot"):
                    await email.send(change)
    finally:
        await smtp.aclose()
    assert smtp_sink.messages == []
