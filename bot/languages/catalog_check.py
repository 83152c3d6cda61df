"""What a translator runs: the messages newsbot's code and templates ask for, and how each catalog falls short.

The messages are extracted with Babel from ``bot/`` (``_()``, ``N_()``, ``ngettext()`` calls), from the store's
``subscribers/`` (its errors' ``N_()`` sentences) and from the built-in templates (``{% trans %}``, ``_()``). A
catalog passes when every one of them has a translation that is not fuzzy, it has no entry the code no longer asks
for, and each translation names the same placeholders (``%(name)s``, ``{name}``) as the English; anything else
would show a reader English, a stale text or a broken sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from babel.core import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po

import subscribers
from bot.app.resources import PACKAGE_DIR
from bot.languages.catalogs import DOMAIN, LOCALES_DIR, SOURCE_LANGUAGE, catalog_path, languages

#: The store's package: its errors mark the sentences readers may see with its own ``N_``.
STORE_DIR = Path(subscribers.__file__).parent
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sdfr]|\{(\w+)\}")
#: Jinja is read the way the renderer reads it, so a block's whitespace is the same in the catalog and on screen.
#: ``gettext_in(language, "text")`` and ``ngettext_in(language, "one", "many", n)`` are read like ``_()`` calls.
_KEYWORDS = {**DEFAULT_KEYWORDS, "gettext_in": (2,), "ngettext_in": (2, 3)}
_TEMPLATE_OPTIONS = {"trim_blocks": "true", "lstrip_blocks": "true", "newstyle_gettext": "true"}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one catalog entry, as one line a translator can act on."""

    path: Path
    line: int
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}: {self.message!r}"


def source_messages() -> Catalog:
    """Every message newsbot can show a reader, in English, with where it comes from."""
    from bot.rendering.renderer import builtin_templates_dir  # the renderer imports this package's catalogs

    catalog = Catalog(locale=SOURCE_LANGUAGE, domain=DOMAIN, project="newsbot")
    sources = (
        (PACKAGE_DIR, [("**/tests/**", "ignore"), ("**.py", "python")], {}),
        (STORE_DIR, [("migrations/**", "ignore"), ("**.py", "python")], {}),  # its refusals readers may be shown
        (builtin_templates_dir(), [("desk/**", "ignore"), ("**.j2", "jinja2")], {"**.j2": _TEMPLATE_OPTIONS}),
    )
    for directory, method_map, options in sources:
        for filename, lineno, message, comments, context in extract_from_dir(
            directory, method_map, options, keywords=_KEYWORDS, comment_tags=("Translators:",), strip_comment_tags=True
        ):
            if not message or (isinstance(message, tuple) and not message[0]):
                continue
            location = (f"{directory.name}/{filename}", lineno)
            catalog.add(message, None, [location], auto_comments=comments, context=context)
    return catalog


def placeholders(text: str) -> set[str]:
    """The names a text formats in: ``%(outlet)s`` and ``{outlet}`` are both ``outlet``."""
    return {percent or brace for percent, brace in _PLACEHOLDER.findall(text)}


def _forms(message: Message) -> list[tuple[str, str]]:
    """Each translated form with the English it translates (the plural forms after the first: the plural)."""
    ids = message.id if isinstance(message.id, tuple) else (message.id,)
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return [(ids[min(index, len(ids) - 1)], string or "") for index, string in enumerate(strings)]


def check_catalog(path: Path, source: Catalog) -> list[Problem]:
    """Every problem of the ``.po`` file at *path* against the messages the code asks for."""
    with path.open("rb") as po_file:
        catalog = read_po(po_file)
    problems: list[Problem] = []
    for wanted in source:
        if not wanted.id:
            continue
        entry = catalog.get(wanted.id, wanted.context)
        if entry is None:
            problems.append(Problem(path, 0, "missing", _english(wanted)))
            continue
        forms = _forms(entry)
        if entry.fuzzy:
            problems.append(Problem(path, entry.lineno, "fuzzy", _english(wanted)))
        elif not all(string for _, string in forms):
            problems.append(Problem(path, entry.lineno, "untranslated", _english(wanted)))
        for english, string in forms:
            if string and placeholders(string) != placeholders(english):
                problems.append(Problem(path, entry.lineno, "placeholders differ", string))
    for entry in catalog:
        if entry.id and source.get(entry.id, entry.context) is None:
            problems.append(Problem(path, entry.lineno, "obsolete", _english(entry)))
    problems += [Problem(path, entry.lineno, "obsolete", _english(entry)) for entry in catalog.obsolete.values()]
    return problems


def _english(message: Message) -> str:
    return message.id[0] if isinstance(message.id, tuple) else message.id


def check_catalogs(locales_dir: Path = LOCALES_DIR) -> list[Problem]:
    """Every problem of every catalog under *locales_dir*, catalog by catalog."""
    source = source_messages()
    return [
        problem
        for language in languages(locales_dir)
        if language != SOURCE_LANGUAGE
        for problem in check_catalog(catalog_path(language, locales_dir), source)
    ]


def update_catalog(language: str, locales_dir: Path = LOCALES_DIR) -> Path:
    """Bring *language*'s catalog up to the code: new messages added empty, changed ones fuzzy, gone ones dropped.

    A language without a catalog gets a new one; what is left to translate is what ``newsbot i18n check`` lists.
    """
    path = catalog_path(language, locales_dir)
    source = source_messages()
    if path.is_file():
        with path.open("rb") as po_file:
            catalog = read_po(po_file, locale=language, domain=DOMAIN)
        catalog.update(source, update_header_comment=False)
    else:
        english_name = Locale.parse(language).get_display_name(SOURCE_LANGUAGE)
        catalog = Catalog(
            locale=language,
            domain=DOMAIN,
            project="newsbot",
            header_comment=f"# What newsbot's readers see, in {english_name}.",
            fuzzy=False,
        )
        catalog.update(source)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as po_file:
        write_po(po_file, catalog, ignore_obsolete=True, width=120, sort_by_file=True)
    return path
