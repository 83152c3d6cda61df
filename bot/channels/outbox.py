"""File outboxes: the whole pipeline runs with no credentials, and a person can read what would be sent.

Like Django's file email backend, one file per delivery, named after the delivery key, so a retried
delivery overwrites its own file instead of adding a duplicate. Files are written to a hidden temporary
name and then renamed, so anyone watching the directory only ever sees complete files.

Writes run in a worker thread (`asyncio.to_thread`): each is small, but a slow or network disk would
otherwise stall every other coroutine, and the thread hop costs nothing next to a real send.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path

from bot.channels.base import OutgoingMessage, Receipt
from bot.channels.failures import PermanentFailure, TemporaryFailure


class _FileOutbox:
    name: str
    suffix: str

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.description = f"{self.name}: file outbox {self.directory}"

    def path_for(self, key: str) -> Path:
        """Where the delivery with this key is (or will be) written."""
        return self.directory / f"{key}{self.suffix}"

    async def send(self, message: OutgoingMessage) -> Receipt:
        data = self._render(message)
        path = self.path_for(message.key)
        try:
            await asyncio.to_thread(_write_atomically, path, data)
        except OSError as exc:
            raise TemporaryFailure(f"outbox write failed: {exc.strerror or exc}") from exc
        return Receipt(provider_id=str(path))

    async def aclose(self) -> None:
        """Nothing to release; present to satisfy the channel contract."""

    def _render(self, message: OutgoingMessage) -> bytes:
        raise NotImplementedError


class TelegramOutbox(_FileOutbox):
    """Writes `<key>.html`: the exact HTML text the bot would send, after a `<!-- to: chat id -->` line and, when
    the message has them, `<!-- buttons: ... -->` (rows split by " || ", buttons by " | "), `<!-- photo: url -->`
    and `<!-- silent: yes -->` lines, so the outbox preview shows what a reader's phone would."""

    name = "telegram"
    suffix = ".html"

    def _render(self, message: OutgoingMessage) -> bytes:
        if not isinstance(message.content, str):
            raise PermanentFailure("telegram content must be HTML text, not bytes")
        head = [f"<!-- to: {message.address} -->"]
        if message.keyboard:
            rows = (" | ".join(_comment_safe(button.text) for button in row) for row in message.keyboard)
            head.append(f"<!-- buttons: {' || '.join(rows)} -->")
        if message.photo:
            head.append(f"<!-- photo: {_comment_safe(message.photo)} -->")
        if message.silent:
            head.append("<!-- silent: yes -->")
        return "\n".join([*head, message.content]).encode()


class EmailOutbox(_FileOutbox):
    """Writes `<key>.eml`: the exact message bytes, which any mail client opens."""

    name = "email"
    suffix = ".eml"

    def _render(self, message: OutgoingMessage) -> bytes:
        if message.action != "send":
            raise PermanentFailure(f"email cannot {message.action} a message already sent")
        content = message.content
        return content if isinstance(content, bytes) else content.encode()


def _comment_safe(text: str) -> str:
    """Text that cannot end the HTML comment it is written in, nor break its line."""
    return " ".join(text.replace("--", "\u2013").split())


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same directory as the target so os.replace is a rename, never a cross-device copy. mkstemp's
    # 0600 mode is kept on purpose: outbox files carry subscriber addresses.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
