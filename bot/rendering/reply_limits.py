"""Telegram's message length, measured one way everywhere, and chat replies that stay within it.

A reply longer than that is refused by Telegram, and the reader gets an apology instead of an answer. So every
list in a reply whose length someone else decides (the unknown names in ``/follow``, the topics a chat follows,
the failure reasons in ``/stats``) shows its first items and "… and N more", and single values that come from
outside (what was typed, an error naming it) are shortened. Counts are in code points; the budgets below leave
room for Telegram's UTF-16 counting and the fixed text around them. Rendered messages (stories, digests) are
measured with the same :func:`utf16_length` against the same :data:`TELEGRAM_MAX_LENGTH`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

#: Telegram's limit for one message, counted in UTF-16 code units of the parsed text, as the Bot API does.
TELEGRAM_MAX_LENGTH = 4096
#: Items a list in a reply shows before "… and N more".
LIST_ITEMS = 10
#: Characters a list in a reply may take (a reply holds at most two or three lists).
LIST_BUDGET = 1000
#: Characters of one error message or typed value repeated back in a reply.
ECHO_CHARS = 500


def summarise(
    items: Sequence[str],
    *,
    most: int = LIST_ITEMS,
    budget: int = LIST_BUDGET,
    more: str = "more",
    rest_line: Callable[[int], str] | None = None,
) -> list[str]:
    """The first *items* that fit in *most* items and *budget* characters, then "… and N <more>" for the rest.

    The first item is always shown; callers shorten items that may be long on their own (see `shorten`). A reply
    in a reader's language words the last line itself (*rest_line*, given how many were left out).
    """
    shown: list[str] = []
    used = 0
    for item in items:
        if len(shown) == most or (shown and used + len(item) > budget):
            break
        shown.append(item)
        used += len(item)
    rest = len(items) - len(shown)
    if not rest:
        return shown
    return [*shown, rest_line(rest) if rest_line else f"… and {rest} {more}"]


def utf16_length(text: str) -> int:
    """The length Telegram counts: UTF-16 code units (an emoji outside the BMP counts two)."""
    return len(text.encode("utf-16-le")) // 2


def fit_lines(lines: Sequence[str], limit: int = TELEGRAM_MAX_LENGTH) -> list[str]:
    """The first *lines* that fit in *limit* UTF-16 units (newlines included), then "… and N more lines".

    The last guard for a reply made of many lists (``/stats``); each line must be whole HTML on its own.
    """
    kept: list[str] = []
    used = 0
    reserve = len("… and 99999 more lines") + 1
    for index, line in enumerate(lines):
        cost = utf16_length(line) + 1
        last = index == len(lines) - 1
        if used + cost > (limit if last else limit - reserve):
            return [*kept, f"… and {len(lines) - index} more lines"]
        kept.append(line)
        used += cost
    return kept


def shorten(text: str, chars: int = ECHO_CHARS) -> str:
    """*text*, cut to *chars* characters with an ellipsis when longer (cut before escaping it for HTML)."""
    return text if len(text) <= chars else text[: chars - 1] + "…"
