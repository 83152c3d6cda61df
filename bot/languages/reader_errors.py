"""An error's sentence in a reader's language, at the edge that shows it (a chat reply, a reader's page).

Errors carry their English template and its fields (:class:`subscribers.errors.NewsbotError`); the template is
the catalogs' message id, so the store and the rest of the code raise in English and never import a catalog. A
template no catalog has (an editor's message, one built with an f-string) comes out in English as it was raised.
"""

from __future__ import annotations

from typing import Protocol, cast

from bot.languages.catalogs import gettext_in
from subscribers.errors import NewsbotError, ReaderText


class InLanguage(Protocol):
    """A field that knows how a reader of each language reads it (a wait: "30 Sekunden")."""

    def in_language(self, language: str) -> str: ...


def error_text(error: NewsbotError, language: str) -> str:
    """*error*'s sentence in *language*; a field that is itself a marked sentence (:class:`ReaderText`), an error
    or an :class:`InLanguage` value is put in *language* too."""
    template = getattr(error, "template", None)
    if not isinstance(template, str) or not template:
        return str(error)
    values = {name: _value_in(value, language) for name, value in getattr(error, "fields", {}).items()}
    translated = gettext_in(language, template)
    try:
        return translated % values if values else translated
    except (KeyError, TypeError, ValueError):  # a catalog whose placeholders went wrong: the English is still right
        return template % values if values else template


def _value_in(value: object, language: str) -> object:
    """A field as the reader reads it: a marked sentence or another error (``timezone: <why>``) in their language."""
    if isinstance(value, ReaderText):
        return gettext_in(language, value)
    if isinstance(value, NewsbotError):
        return error_text(value, language)
    if callable(getattr(value, "in_language", None)):
        return cast(InLanguage, value).in_language(language)
    return value


def capitalised(sentence: str) -> str:
    """*sentence* as the start of a line on a page ("this link has expired" -> "This link has expired")."""
    return sentence[:1].upper() + sentence[1:]
