"""Dates and numbers as a reader's language writes them ("27. November 2026", "1.234"), through Babel's CLDR data."""

from __future__ import annotations

import datetime as dt

from babel.dates import format_date, format_interval
from babel.numbers import format_decimal

from bot.languages.catalogs import SOURCE_LANGUAGE


def long_date(day: dt.date, language: str) -> str:
    """ "November 27, 2026", "27. November 2026", "27 de noviembre de 2026"."""
    return format_date(day, format="long", locale=language)


def weekday(day: dt.date, language: str) -> str:
    """ "Monday", "Montag", "lunes"."""
    return format_date(day, format="EEEE", locale=language)


def date_range(first: dt.date, last: dt.date, language: str) -> str:
    """A week's span: "November 23 – 29, 2026", "23.–29. Nov. 2026", "23–29 de noviembre de 2026".

    English keeps the month names written out, as newsbot has always printed them; other languages take CLDR's
    interval pattern, which knows where each puts the day, the month and the dash.
    """
    if language != SOURCE_LANGUAGE:
        return format_interval(first, last, skeleton="yMMMMd", locale=language)
    if first.month == last.month and first.year == last.year:
        return f"{first:%B} {first.day} – {last.day}, {last.year}"
    if first.year == last.year:
        return f"{first:%B} {first.day} – {last:%B} {last.day}, {last.year}"
    return f"{first:%B} {first.day}, {first.year} – {last:%B} {last.day}, {last.year}"


def number(value: float, language: str) -> str:
    """ "1,234" in English, "1.234" in German and Spanish."""
    return format_decimal(value, locale=language)
