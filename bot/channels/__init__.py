"""Delivery channels: one small contract (`Channel`), several implementations, chosen from settings.

The delivery worker only talks to the contract in `bot.channels.base`; which implementation sits behind
each channel name is decided once, here, so that no credentials means file outboxes and the full
pipeline still runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.channels.base import (
    Channel,
    ChannelUnreachable,
    DeliveryFailed,
    OutgoingMessage,
    PermanentFailure,
    Receipt,
    RecipientGone,
    RecipientMoved,
    TemporaryFailure,
)
from bot.channels.outbox import EmailOutbox, TelegramOutbox

if TYPE_CHECKING:
    from bot.app.config import Settings

__all__ = [
    "Channel",
    "ChannelUnreachable",
    "DeliveryFailed",
    "EmailOutbox",
    "OutgoingMessage",
    "PermanentFailure",
    "Receipt",
    "RecipientGone",
    "RecipientMoved",
    "TelegramOutbox",
    "TemporaryFailure",
    "build_channels",
]


def build_channels(settings: Settings) -> dict[str, Channel]:
    """Live channels where credentials are configured, file outboxes under the data directory elsewhere."""
    channels: dict[str, Channel] = {}
    if settings.telegram_token:
        # Imported here so that running on outboxes never pays for importing python-telegram-bot.
        from bot.channels.telegram import TelegramChannel
        from bot.channels.telegram_rate_limit import TelegramRateLimiter

        limiter = TelegramRateLimiter.from_settings(settings)
        channels["telegram"] = TelegramChannel.from_settings(settings, rate_limiter=limiter)
    else:
        channels["telegram"] = TelegramOutbox(settings.outbox_dir / "telegram")
    if settings.smtp_url:
        from bot.channels.smtp import SmtpChannel

        channels["email"] = SmtpChannel.from_settings(settings)
    else:
        channels["email"] = EmailOutbox(settings.outbox_dir / "email")
    return channels

