"""Delivery channels: one small contract (`Channel`), several implementations, chosen from settings.

The delivery worker only talks to the contract in `bot.channels.base` and `bot.channels.failures`; which
implementation sits behind each channel name is decided once, here, so that no credentials means file outboxes
and the full pipeline still runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from bot.channels.base import Channel, OutgoingMessage, Receipt
from bot.channels.failures import (
    ChannelUnreachable,
    DeliveryFailed,
    PermanentFailure,
    RecipientGone,
    RecipientMoved,
    TemporaryFailure,
)
from bot.channels.outbox import EmailOutbox, TelegramOutbox

if TYPE_CHECKING:
    from bot.app.config import Settings

__all__ = [
    "CHANNEL_NAMES",
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
    "close_channels",
]


#: Every channel a reader can be reached on, in the order they are built.
CHANNEL_NAMES = ("telegram", "email")


def build_channels(settings: Settings, *, only: Iterable[str] = CHANNEL_NAMES, live: bool = True) -> dict[str, Channel]:
    """Live channels where credentials are configured, file outboxes under the data directory elsewhere.

    The one factory: ``newsbot run``, ``newsbot deliver``, ``newsbot social send``, the web side (``only=["email"]``)
    and the demo (``live=False``: file outboxes whatever the credentials, so it never messages a real reader).
    """
    channels: dict[str, Channel] = {}
    for name in only:
        if name == "telegram":
            channels[name] = (
                _telegram(settings) if live and settings.telegram_token else TelegramOutbox(settings.outbox_dir / name)
            )
        elif name == "email":
            channels[name] = _email(settings) if live and settings.smtp_url else EmailOutbox(settings.outbox_dir / name)
        else:
            raise ValueError(f"unknown channel {name!r}; expected one of {', '.join(CHANNEL_NAMES)}")
    return channels


async def close_channels(channels: Mapping[str, Channel]) -> None:
    """Close every channel (connection pools, HTTP clients); the owner of a :func:`build_channels` result calls it."""
    for channel in channels.values():
        await channel.aclose()


def _telegram(settings: Settings) -> Channel:
    # Imported here so that running on outboxes never pays for importing python-telegram-bot.
    from bot.channels.telegram import TelegramChannel
    from bot.channels.telegram_rate_limit import TelegramRateLimiter

    return TelegramChannel.from_settings(settings, rate_limiter=TelegramRateLimiter.from_settings(settings))


def _email(settings: Settings) -> Channel:
    from bot.channels.smtp import SmtpChannel

    return SmtpChannel.from_settings(settings)
