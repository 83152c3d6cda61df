"""A Telegram digest longer than one message (4096 UTF-16 units) is split between stories into several messages.

They are sent in order as one delivery; if a later part fails temporarily the whole delivery is retried, which
can repeat the earlier parts (the same bounded duplicate window as a worker crash).
"""

from __future__ import annotations

import re

from bot.app.errors import RenderError
from bot.rendering.reply_limits import TELEGRAM_MAX_LENGTH, utf16_length

TELEGRAM_DIGEST_TEMPLATE = "telegram/digest.html.j2"
_BLOCK_BREAK = re.compile(r"\n\s*\n")


def split_telegram_message(text: str, limit: int = TELEGRAM_MAX_LENGTH) -> list[str]:
    """Pack the blank-line-separated blocks of *text* into as few messages of at most *limit* as possible.

    Templates keep every tag within one block, so a split never cuts a tag or an entity in half.
    """
    parts: list[str] = []
    current = ""
    for block in (b.strip() for b in _BLOCK_BREAK.split(text)):
        if not block:
            continue
        candidate = f"{current}\n\n{block}" if current else block
        if utf16_length(candidate) <= limit:
            current = candidate
            continue
        if utf16_length(block) > limit:
            raise RenderError(f"{TELEGRAM_DIGEST_TEMPLATE} renders a block longer than {limit} characters")
        parts.append(current)
        current = block
    if current:
        parts.append(current)
    return parts
