"""How a send can fail, by what the delivery worker should do about it: retry, pause the channel, give up on the
message, or act on the address.

Each channel folds its provider's errors into these few kinds where it catches them (``failures.RecipientGone``
reads as what it means at the raise), so the worker decides retries and bounces once, for every channel.
"""

from __future__ import annotations


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
