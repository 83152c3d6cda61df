"""File outboxes, the channel contract itself, and how settings choose between outboxes and live channels."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from bot.app.config import Settings
from bot.channels import (
    Channel,
    DeliveryFailed,
    EmailOutbox,
    OutgoingMessage,
    PermanentFailure,
    Receipt,
    RecipientMoved,
    TelegramOutbox,
    TemporaryFailure,
    build_channels,
)
from bot.channels.smtp import SmtpChannel
from bot.channels.telegram import TelegramChannel


def listing(directory: Path) -> list[str]:
    """Every entry, hidden temporaries included."""
    return sorted(os.listdir(directory))


EMAIL = b"From: news@example.org\r\nTo: reader@example.org\r\nSubject: Caf\xc3\xa9\r\n\r\nBody\r\n"


# --- outboxes ---------------------------------------------------------------------------------------


async def test_telegram_outbox_writes_the_exact_html_after_a_recipient_comment(tmp_path: Path) -> None:
    outbox = TelegramOutbox(tmp_path / "telegram")
    receipt = await outbox.send(OutgoingMessage("d-7.tg", "-100123", "<b>Été</b> &amp; more"))
    path = tmp_path / "telegram" / "d-7.tg.html"
    assert receipt == Receipt(provider_id=str(path))
    assert path.read_text(encoding="utf-8") == "<!-- to: -100123 -->\n<b>Été</b> &amp; more"


async def test_email_outbox_writes_the_exact_message_bytes(tmp_path: Path) -> None:
    outbox = EmailOutbox(tmp_path / "email")
    receipt = await outbox.send(OutgoingMessage("d-8", "reader@example.org", EMAIL))
    assert receipt.provider_id == str(tmp_path / "email" / "d-8.eml")
    assert (tmp_path / "email" / "d-8.eml").read_bytes() == EMAIL


async def test_outbox_directories_are_created_on_demand(tmp_path: Path) -> None:
    outbox = EmailOutbox(tmp_path / "not" / "yet" / "there")
    await outbox.send(OutgoingMessage("d-1", "reader@example.org", EMAIL))
    assert (tmp_path / "not" / "yet" / "there" / "d-1.eml").exists()


async def test_sending_the_same_key_again_overwrites_instead_of_duplicating(tmp_path: Path) -> None:
    outbox = TelegramOutbox(tmp_path)
    await outbox.send(OutgoingMessage("d-1", "42", "first try"))
    await outbox.send(OutgoingMessage("d-1", "42", "retry"))
    assert listing(tmp_path) == ["d-1.html"]
    assert (tmp_path / "d-1.html").read_text().endswith("retry")


async def test_a_failed_write_leaves_the_previous_file_whole_and_no_temporary_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = EmailOutbox(tmp_path)
    await outbox.send(OutgoingMessage("d-1", "reader@example.org", EMAIL))

    def disk_full(source: str, destination: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(TemporaryFailure) as failure:
        await outbox.send(OutgoingMessage("d-1", "reader@example.org", b"Subject: half\r\n"))
    assert str(failure.value) == "outbox write failed: No space left on device"
    assert listing(tmp_path) == ["d-1.eml"]
    assert (tmp_path / "d-1.eml").read_bytes() == EMAIL


async def test_the_telegram_outbox_refuses_bytes_as_the_real_channel_does(tmp_path: Path) -> None:
    with pytest.raises(PermanentFailure):
        await TelegramOutbox(tmp_path).send(OutgoingMessage("d-1", "42", b"<b>bytes</b>"))


async def test_outboxes_satisfy_the_channel_contract(tmp_path: Path) -> None:
    telegram, email = TelegramOutbox(tmp_path), EmailOutbox(tmp_path)
    assert isinstance(telegram, Channel) and isinstance(email, Channel)
    assert (telegram.name, email.name) == ("telegram", "email")
    await telegram.aclose()
    await email.aclose()


# --- the contract -----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "../escape", "a/b", "with space", "ünïcode"])
def test_delivery_keys_must_be_filename_safe(key: str) -> None:
    with pytest.raises(ValueError):
        OutgoingMessage(key, "42", "text")


def test_failures_read_as_their_reason_and_keep_their_details_through_pickling() -> None:
    temporary = TemporaryFailure("telegram 429: retry after 3s", retry_after=3.0)
    moved = RecipientMoved("telegram: chat migrated to -1005", new_address="-1005")
    assert str(temporary) == temporary.reason == "telegram 429: retry after 3s"
    assert isinstance(moved, DeliveryFailed)
    assert pickle.loads(pickle.dumps(temporary)).retry_after == 3.0
    assert pickle.loads(pickle.dumps(moved)).new_address == "-1005"


# --- choosing channels from settings ----------------------------------------------------------------


def test_without_credentials_both_channels_are_file_outboxes(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, telegram_token="", smtp_url="")
    channels = build_channels(settings)
    assert isinstance(channels["telegram"], TelegramOutbox)
    assert isinstance(channels["email"], EmailOutbox)
    assert channels["telegram"].directory == tmp_path / "outbox" / "telegram"
    assert {name: channel.description for name, channel in channels.items()} == {
        "telegram": f"telegram: file outbox {tmp_path / 'outbox' / 'telegram'}",
        "email": f"email: file outbox {tmp_path / 'outbox' / 'email'}",
    }


async def test_with_credentials_both_channels_are_live(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        telegram_token="123:ABC",
        telegram_api_url="http://127.0.0.1:9",
        smtp_url="smtp://127.0.0.1:2525",
    )
    channels = build_channels(settings)
    assert isinstance(channels["telegram"], TelegramChannel)
    assert isinstance(channels["email"], SmtpChannel)
    assert {name: channel.description for name, channel in channels.items()} == {
        "telegram": "telegram: Bot API at http://127.0.0.1:9",
        "email": "email: SMTP smtp://127.0.0.1:2525",
    }
    for channel in channels.values():
        await channel.aclose()


def test_each_channel_is_chosen_independently(tmp_path: Path) -> None:
    channels = build_channels(Settings(data_dir=tmp_path, telegram_token="", smtp_url="smtp://127.0.0.1:2525"))
    assert isinstance(channels["telegram"], TelegramOutbox)
    assert isinstance(channels["email"], SmtpChannel)
