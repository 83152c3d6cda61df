"""The one small contract between the delivery worker and every way of delivering a message.

The worker only ever sees `OutgoingMessage`, `Receipt` and the `DeliveryFailed` family, so a new channel
(or a fake one in a test) is a class with `name`, `send` and `aclose`, and the retry/bounce policy lives
in one place instead of being re-derived from each provider's error zoo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

_KEY = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One delivery, already rendered for its channel.

    `key` is unique per delivery and filename-safe, because file outboxes name files after it (checked
    here so that a key can never escape the outbox directory). `address` is a Telegram chat id as a
    string or an email address. `content` is Telegram HTML text, or the complete RFC 5322 message bytes.
    """

    key: str
    address: str
    content: str | bytes

    def __post_init__(self) -> None:
        if not _KEY.fullmatch(self.key):
            raise ValueError(f"delivery key must match [A-Za-z0-9._-]+, got {self.key!r}")


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the provider said on success: Telegram message_id, the SMTP queue reply, or the outbox file."""

    provider_id: str | None = None


class DeliveryFailed(Exception):
    """Base of every delivery failure; `reason` is short, readable and stored on the delivery row."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class TemporaryFailure(DeliveryFailed):
    """Try again later; `retry_after` is the wait in seconds the provider asked for, if it said."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[type, tuple[str, float | None]]:
        return type(self), (self.reason, self.retry_after)


class ChannelUnreachable(TemporaryFailure):
    """The channel itself could not be reached (relay down, refused or timed-out connection, TLS failure, 421 on
    connect, Bot API 5xx): nothing is wrong with this message. The worker pauses the channel and probes it rather
    than spending this delivery's attempts."""

    def __reduce__(self) -> tuple[type, tuple[str, float | None]]:
        return type(self), (self.reason, self.retry_after)


class PermanentFailure(DeliveryFailed):
    """This message will never go through as it is (unparsable HTML, a 5xx on the message itself)."""


class RecipientGone(DeliveryFailed):
    """The address is dead (bot blocked, chat not found, mailbox unknown): deactivate or bounce it."""


class RecipientMoved(DeliveryFailed):
    """The chat lives under a new id (a group upgraded to a supergroup): update the address and resend."""

    def __init__(self, reason: str, new_address: str) -> None:
        super().__init__(reason)
        self.new_address = new_address

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        return type(self), (self.reason, self.new_address)


@runtime_checkable
class Channel(Protocol):
    """What the delivery worker talks to; implementations raise only `DeliveryFailed` subclasses."""

    name: str

    async def send(self, message: OutgoingMessage) -> Receipt: ...

    async def aclose(self) -> None: ...
