"""An ``index.html`` beside the file outboxes that shows every rendered message, as readers would see it.

It is how someone without a Telegram bot or a mail server checks what newsbot sends: chat messages are shown as
HTML, emails in sandboxed frames (their HTML part), each with its recipient and file.
"""

from __future__ import annotations

import email
import email.policy
import os
import tempfile
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import jinja2

GALLERY_TEMPLATE = "web/outbox_index.html.j2"


@dataclass(frozen=True, slots=True)
class ShownMessage:
    channel: str
    file: str
    recipient: str
    subject: str
    html: str


def _telegram(path: Path) -> ShownMessage:
    text = path.read_text(encoding="utf-8")
    first, _, body = text.partition("\n")
    recipient = first.removeprefix("<!-- to: ").removesuffix(" -->") if first.startswith("<!-- to:") else "?"
    return ShownMessage("telegram", path.name, recipient, "", body if recipient != "?" else text)


def _email(path: Path) -> ShownMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=("html", "plain"))
    html = part.get_content() if part is not None else ""
    return ShownMessage("email", path.name, str(message["To"]), str(message["Subject"]), html)


def write_gallery(environment: jinja2.Environment, outbox_dir: Path) -> Path:
    """Write (atomically) and return ``<outbox>/index.html`` listing every message in the outboxes."""
    shown = [_telegram(p) for p in sorted((outbox_dir / "telegram").glob("*.html"))]
    shown += [_email(p) for p in sorted((outbox_dir / "email").glob("*.eml"))]
    page = environment.get_template(GALLERY_TEMPLATE).render(messages=shown)
    outbox_dir.mkdir(parents=True, exist_ok=True)
    target = outbox_dir / "index.html"
    with tempfile.NamedTemporaryFile("w", dir=outbox_dir, delete=False, encoding="utf-8", suffix=".tmp") as tmp:
        tmp.write(page)
    os.replace(tmp.name, target)
    return target
