"""The translations readers see: one gettext catalog per language, read from its ``.po`` file once.

English is the source language: every message id is the English text, so English needs no catalog and anything
a catalog lacks (a missing, empty or fuzzy entry) falls back to it; a reader never sees a message id. Catalogs
are compiled in memory from ``locales/<lang>/LC_MESSAGES/newsbot.po`` with Babel, so a fresh checkout needs no
build step and adding a language is adding one file.
"""

from __future__ import annotations

import functools
import gettext
import io
from pathlib import Path
from typing import Protocol

from babel.core import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

# N_ marks a message for the catalogs where it is defined (a table of labels, an error's sentence); it is
# translated where shown. The store has the one definition, since it marks its own refusals too.
from subscribers.errors import N_ as N_

SOURCE_LANGUAGE = "en"
DOMAIN = "newsbot"
LOCALES_DIR = Path(__file__).parent / "locales"


def catalog_path(language: str, locales_dir: Path = LOCALES_DIR) -> Path:
    """Where the ``.po`` file of *language* lives."""
    return locales_dir / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def languages(locales_dir: Path = LOCALES_DIR) -> tuple[str, ...]:
    """Every language readers can choose: English, then each language with a catalog, by code."""
    found = sorted(path.parent.parent.name for path in locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return (SOURCE_LANGUAGE, *(code for code in found if code != SOURCE_LANGUAGE))


@functools.cache
def translations(language: str, locales_dir: Path = LOCALES_DIR) -> gettext.NullTranslations:
    """The translations of *language*; English (or a language without a catalog) is the message ids themselves."""
    path = catalog_path(language, locales_dir)
    if language == SOURCE_LANGUAGE or not path.is_file():
        return gettext.NullTranslations()
    with path.open("rb") as po_file:
        catalog = read_po(po_file, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)  # a fuzzy entry is a guess: English until a translator confirms it
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def gettext_in(language: str, message: str) -> str:
    """*message* in *language*, or the English *message* when there is no translation."""
    return translations(language).gettext(message)


def ngettext_in(language: str, singular: str, plural: str, count: int) -> str:
    """The singular or plural form of a message in *language*, as its catalog's plural rule chooses for *count*."""
    return translations(language).ngettext(singular, plural, count)


def supported(code: str | None) -> str | None:
    """The language readers can choose that *code* (``de``, ``de-AT``, ``es_MX``, ``DE``) names, or None."""
    if not code:
        return None
    try:
        language = Locale.parse(code.strip().replace("-", "_")).language
    except (ValueError, UnknownLocaleError):
        return None
    return language if language in languages() else None


def language_of(code: str | None, default: str) -> str:
    """*code*'s language if readers can choose it, else *default* (the outlet's), else English."""
    return supported(code) or supported(default) or SOURCE_LANGUAGE


class HasDefaultLanguage(Protocol):
    """What the outlet's language needs of the settings (``NEWSBOT_DEFAULT_LANGUAGE``)."""

    @property
    def default_language(self) -> str: ...


def outlet_language(settings: HasDefaultLanguage) -> str:
    """The language of what nobody in particular reads (the outlet's own channels): ``NEWSBOT_DEFAULT_LANGUAGE``
    if newsbot speaks it, else English."""
    return language_of(None, settings.default_language)


def from_accept_language(header: str | None, default: str) -> str:
    """The language a browser asks for first (``Accept-Language: es-MX,es;q=0.9,en;q=0.5``) that readers can choose."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")):
        code, _, parameters = part.strip().partition(";")
        quality = 1.0
        if parameters.strip().startswith("q="):
            try:
                quality = float(parameters.strip()[2:])
            except ValueError:
                continue
        if code and quality > 0:
            weighted.append((-quality, position, code))
    for _quality, _position, code in sorted(weighted):
        language = supported(code)
        if language is not None:
            return language
    return language_of(None, default)


def language_name(language: str) -> str:
    """The language's own name ("Deutsch", "español", "English"): what a reader looks for on a button."""
    name = Locale.parse(language).get_display_name(language) or language
    return name[:1].upper() + name[1:]
