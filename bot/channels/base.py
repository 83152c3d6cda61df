"""The one small contract between the delivery worker and every way of delivering a message.

The worker only ever sees `OutgoingMessage`, `Receipt` and the `DeliveryFailed` family (`bot.channels.failures`),
so a new channel (or a fake one in a test) is a class with `name`, `send` and `aclose`, and the retry/bounce policy
lives in one place instead of being re-derived from each provider's error zoo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

_KEY = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class Button:
    """One button under a message: it opens `url`, or sends `callback` (64 bytes at most) back to the bot."""

    text: str
    url: str | None = None
    callback: str | None = None

    def __post_init__(self) -> None:
        if (self.url is None) == (self.callback is None):
            raise ValueError("a button has either a url or a callback")
        if self.callback is not None and len(self.callback.encode()) > 64:
            raise ValueError(f"button callback data is over 64 bytes: {self.callback!r}")


#: Rows of buttons, as plain data: each channel turns them into its own keyboard (or ignores them).
Keyboard = tuple[tuple[Button, ...], ...]


@dataclass(frozen=True, slots=True)
class LinkPreview:
    """Which link a message previews: `url` shown large, or no preview at all when `url` is None."""

    url: str | None = None


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One delivery, already rendered for its channel.

    `key` is unique per delivery and filename-safe, because file outboxes name files after it (checked
    here so that a key can never escape the outbox directory). `address` is a Telegram chat id as a
    string or an email address. `content` is Telegram HTML text, or the complete RFC 5322 message bytes.

    What is done to a message already sent (a correction, a retraction) travels the same way: `action` is
    ``"edit"`` (replace the text of message `target` with `content`) or ``"delete"`` (remove message `target`;
    where the provider no longer allows that, `content` replaces its text instead). `reply_to` sends a new
    message as a reply to the reader's own copy of an earlier one. Channels that cannot change what they sent
    (email) refuse edits and deletes as a `PermanentFailure`.

    Chat channels (Telegram) also read `keyboard` (buttons under the message, kept by an edit), `link_preview`
    (None leaves the channel's default), `silent` (no notification sound) and `photo` (an image URL: the message
    is then that photo with `content` as its caption). Their defaults change nothing, and email ignores them.
    """

    key: str
    address: str
    content: str | bytes
    action: Literal["send", "edit", "delete"] = "send"
    #: The provider's id of the message to edit or delete (the `Receipt.provider_id` its send returned).
    target: str | None = None
    #: The provider's id of the message this one answers.
    reply_to: str | None = None
    keyboard: Keyboard = ()
    link_preview: LinkPreview | None = None
    silent: bool = False
    photo: str | None = None

    def __post_init__(self) -> None:
        if not _KEY.fullmatch(self.key):
            raise ValueError(f"delivery key must match [A-Za-z0-9._-]+, got {self.key!r}")
        if self.action not in ("send", "edit", "delete"):
            raise ValueError(f"message action must be send, edit or delete, got {self.action!r}")
        if self.action != "send" and not self.target:
            raise ValueError(f"an {self.action} needs the target message's id")


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the provider said on success: Telegram message_id, the SMTP queue reply, or the outbox file.

    For an edit or delete it is the target's id (an edit that changed nothing is a success too).
    """

    provider_id: str | None = None


@runtime_checkable
class Channel(Protocol):
    """What the delivery worker talks to; implementations raise only `DeliveryFailed` subclasses (`failures`)."""

    name: str

    async def send(self, message: OutgoingMessage) -> Receipt: ...

    async def aclose(self) -> None: ...
