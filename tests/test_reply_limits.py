"""The one helper that keeps chat replies built from user input within Telegram's 4,096 characters."""

from __future__ import annotations

from bot.rendering.reply_limits import TELEGRAM_MAX_LENGTH, fit_lines, shorten, summarise, utf16_length


def test_a_long_list_shows_its_first_items_and_how_many_more() -> None:
    names = [f"name {n}" for n in range(119)]
    assert summarise(names) == [*names[:10], "… and 109 more"]
    assert summarise(names, more="more unknown names.")[-1] == "… and 109 more unknown names."
    assert summarise(names[:3]) == names[:3]
    assert summarise(["x" * 600, "y" * 600], budget=1000) == ["x" * 600, "… and 1 more"]  # the first always shows


def test_a_long_value_is_shortened_with_an_ellipsis() -> None:
    assert shorten("short") == "short"
    assert shorten("x" * 5000) == "x" * 499 + "…"
    assert shorten("abcdef", 4) == "abc…"


def test_lines_are_cut_where_telegram_would_refuse_the_message_counting_utf16_units() -> None:
    assert fit_lines(["a", "b"]) == ["a", "b"]
    emoji = ["😀" * 100] * 30  # 200 UTF-16 units a line: 6,000 in all
    kept = fit_lines(emoji)
    assert kept[-1] == f"… and {30 - (len(kept) - 1)} more lines"
    assert utf16_length("\n".join(kept)) <= TELEGRAM_MAX_LENGTH
