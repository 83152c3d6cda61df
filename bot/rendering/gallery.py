"""An ``index.html`` beside the file outboxes that shows what newsbot sent, one card per distinct message.

It is how someone without a Telegram bot or a mail server checks what readers get: a story sent to 500 chats is
one card saying "to 500 readers", not 500 cards. Chat messages are shown as a chat bubble in a phone-wide (375 px)
box; emails in a sandboxed frame of the same width, with their plain-text part beside. Stories, digests,
confirmations, corrections and chat notices alike, whatever is in the outboxes.

Two emails are the same message when they differ only in what is personal: the recipient and the signed
unsubscribe, preference and confirmation links. `newsbot demo`, `newsbot deliver` and `newsbot run` (after each
pass of its delivery worker, when it writes to file outboxes) refresh the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from html import escape as html_escape
from pathlib import Path

import jinja2

from bot.channels import Channel, EmailOutbox, TelegramOutbox

GALLERY_TEMPLATE = "web/outbox_index.html.j2"
#: The width of the phone view, in CSS pixels (an iPhone SE or mini, the narrowest common phone).
PHONE_WIDTH = 375
#: A card names this many recipients, then "and N more".
RECIPIENTS_SHOWN = 5

#: What the leading word of an outbox file's name (the delivery key) says the message is.
KINDS = {
    "story": "story",
    "digest": "digest",
    "confirm": "confirmation",
    "correction": "correction",
    "edit": "edit",
    "withdraw": "withdrawal",
    "delete": "deletion",
    "email": "chat notice",
}
#: How often `newsbot run` looks whether the outboxes changed (only a changed outbox is read and the page rewritten).
REFRESH_SECONDS = 1.0
_PERSONAL_LINK = re.compile(r"/(unsubscribe|preferences|confirm)/[^\s\"'<>&)]+")
_META_LINE = re.compile(r"<!-- ([a-z_-]+): (.*) -->")


@dataclass
class ShownMessage:
    """One distinct message, and every outbox file (one per reader) that holds it."""

    channel: str
    kind: str
    subject: str
    html: str
    text: str = ""
    #: Extra lines a Telegram outbox file carries before the text (``<!-- photo: ... -->``), name and value.
    details: list[tuple[str, str]] = field(default_factory=list)
    #: The inline keyboard under a Telegram message: rows of button labels.
    buttons: list[list[str]] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def shown_recipients(self) -> str:
        """ "100001, 100003" or "a, b, c, d, e and 12 more"."""
        named = ", ".join(self.recipients[:RECIPIENTS_SHOWN])
        rest = len(self.recipients) - RECIPIENTS_SHOWN
        return f"{named} and {rest} more" if rest > 0 else named


def _kind(file_name: str) -> str:
    word = re.match(r"[a-z]*", file_name)
    return KINDS.get(word.group(0) if word else "", "message")


def _telegram(path: Path) -> tuple[str, ShownMessage]:
    """A Telegram outbox file: ``<!-- to: chat -->`` (and perhaps more such lines), then the message's HTML."""
    lines = path.read_text(encoding="utf-8").split("\n")
    meta: list[tuple[str, str]] = []
    while lines and (found := _META_LINE.fullmatch(lines[0].strip())):
        meta.append((found.group(1), found.group(2)))
        lines.pop(0)
    body = "\n".join(lines)
    recipient = next((value for name, value in meta if name == "to"), "?")
    keyboard = next((value for name, value in meta if name == "buttons"), "")
    buttons = [[label.strip() for label in row.split(" | ")] for row in keyboard.split(" || ") if row.strip()]
    details = [(name, value) for name, value in meta if name not in ("to", "buttons")]
    shown = ShownMessage("telegram", _kind(path.name), "", body, details=details, buttons=buttons)
    key = _fingerprint("telegram", body, keyboard, *(f"{n}={v}" for n, v in details))
    return key, _with(shown, recipient, path)


def _email(path: Path) -> tuple[str, ShownMessage]:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    html_part = message.get_body(preferencelist=("html",))
    text_part = message.get_body(preferencelist=("plain",))
    html = html_part.get_content() if html_part is not None else ""
    text = text_part.get_content() if text_part is not None else ""
    subject = str(message["Subject"] or "")
    if not html:  # a plain-text-only email is shown as its text
        html = f"<pre style='white-space:pre-wrap;font-family:sans-serif'>{html_escape(text)}</pre>"
    shown = ShownMessage("email", _kind(path.name), subject, html, text=text)
    key = _fingerprint("email", subject, _PERSONAL_LINK.sub(r"/\1/…", text), _PERSONAL_LINK.sub(r"/\1/…", html))
    return key, _with(shown, str(message["To"] or "?"), path)


def _with(shown: ShownMessage, recipient: str, path: Path) -> ShownMessage:
    shown.recipients.append(recipient)
    shown.files.append(path.name)
    return shown


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def distinct_messages(outbox_dir: Path) -> list[ShownMessage]:
    """Every distinct message in the outboxes, Telegram first, each with all its recipients, in file order."""
    found: dict[str, ShownMessage] = {}
    readers: Iterable[tuple[str, ShownMessage]] = [
        *(_telegram(p) for p in sorted((outbox_dir / "telegram").glob("*.html"))),
        *(_email(p) for p in sorted((outbox_dir / "email").glob("*.eml"))),
    ]
    for key, shown in readers:
        if key in found:
            found[key].recipients += shown.recipients
            found[key].files += shown.files
        else:
            found[key] = shown
    return list(found.values())


def write_gallery(environment: jinja2.Environment, outbox_dir: Path) -> Path:
    """Write (atomically) and return ``<outbox>/index.html`` showing every distinct message in the outboxes."""
    shown = distinct_messages(outbox_dir)
    files = sum(len(message.files) for message in shown)
    page = environment.get_template(GALLERY_TEMPLATE).render(messages=shown, files=files, phone_width=PHONE_WIDTH)
    outbox_dir.mkdir(parents=True, exist_ok=True)
    target = outbox_dir / "index.html"
    with tempfile.NamedTemporaryFile("w", dir=outbox_dir, delete=False, encoding="utf-8", suffix=".tmp") as tmp:
        tmp.write(page)
    os.replace(tmp.name, target)
    return target


def writes_to_files(channels: Mapping[str, Channel]) -> bool:
    """Whether any of *channels* is a file outbox, i.e. whether there is a preview page to keep fresh."""
    return any(isinstance(channel, TelegramOutbox | EmailOutbox) for channel in channels.values())


def _outbox_state(outbox_dir: Path) -> tuple[int, ...]:
    """Changes whenever a message is written: every write is a rename into one of these directories."""
    return tuple(
        (outbox_dir / name).stat().st_mtime_ns if (outbox_dir / name).is_dir() else 0 for name in ("telegram", "email")
    )


async def keep_gallery_fresh(
    environment: jinja2.Environment, outbox_dir: Path, stop: asyncio.Event, *, every: float = REFRESH_SECONDS
) -> None:
    """`newsbot run`'s loop: rewrite the preview page after the outboxes changed, and once more when stopping."""
    seen: tuple[int, ...] | None = None
    while True:
        state = await asyncio.to_thread(_outbox_state, outbox_dir)
        if state != seen and any(state):
            await asyncio.to_thread(write_gallery, environment, outbox_dir)
            seen = state
        if stop.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
