"""Dates and numbers as a reader's language writes them ("27. November 2026", "1.234"), through Babel's CLDR data."""

from __future__ import annotations

import datetime as dt

from babel.dates import format_date, format_interval, get_datetime_format
from babel.numbers import format_decimal

from bot.languages.catalogs import SOURCE_LANGUAGE, ngettext_in


def long_date(day: dt.date, language: str) -> str:
    """ "November 27, 2026", "27. November 2026", "27 de noviembre de 2026"."""
    return format_date(day, format="long", locale=language)


def date_and_time(moment: dt.datetime, language: str) -> str:
    """ "November 27, 2026, 14:05", "27. November 2026, 14:05", "27 de noviembre de 2026, 14:05": the long date
    and the 24-hour time as they are, joined the way the language joins a date and a time."""
    joined = get_datetime_format("medium", locale=language)  # "{1}, {0}": the date, then the time
    return str(joined).replace("{1}", long_date(moment.date(), language)).replace("{0}", f"{moment:%H:%M}")


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


def wait_phrase(seconds: int, language: str = SOURCE_LANGUAGE) -> str:
    """How long to wait, for a reader: "40 seconds", "2 minutes", "2 Minuten"."""
    if seconds < 90:
        return ngettext_in(language, "%(count)s second", "%(count)s seconds", seconds) % {"count": seconds}
    minutes = round(seconds / 60)
    return ngettext_in(language, "%(count)s minute", "%(count)s minutes", minutes) % {"count": minutes}


class Wait:
    """A wait in an error's sentence ("try again in %(wait)s"): English as a string, in the reader's words where
    the error is shown (:func:`bot.languages.reader_errors.error_text` asks it)."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds

    def __str__(self) -> str:
        return wait_phrase(self.seconds)

    def in_language(self, language: str) -> str:
        return wait_phrase(self.seconds, language)
