"""``newsbot i18n``: what a translator runs to keep a language's catalog complete."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from babel.core import Locale, UnknownLocaleError

from bot.cli.console import app, err, fail, out
from bot.languages.catalog_check import check_catalogs, update_catalog
from bot.languages.catalogs import LOCALES_DIR, SOURCE_LANGUAGE

i18n_app = typer.Typer(help="Translations of what readers see.", no_args_is_help=True)
app.add_typer(i18n_app, name="i18n")

LocalesOption = Annotated[
    Path, typer.Option("--locales", help="The catalogs' folder (<lang>/LC_MESSAGES/newsbot.po in it).")
]


@i18n_app.command("check")
def i18n_check(locales: LocalesOption = LOCALES_DIR) -> None:
    """Fail, one line per problem, on a missing, untranslated, fuzzy or obsolete entry or a changed placeholder."""
    if not locales.is_dir():
        fail(f"--locales: {locales} is not a folder")
    problems = check_catalogs(locales)
    for problem in problems:
        err.print(str(problem), markup=False)
    if problems:
        raise typer.Exit(1)
    out.print("Every catalog is complete.", markup=False)


@i18n_app.command("update")
def i18n_update(
    language: Annotated[str, typer.Argument(help="A language code, e.g. de, es, fr.")],
    locales: LocalesOption = LOCALES_DIR,
) -> None:
    """Add what the code now asks for to LANGUAGE's catalog (creating it), and drop what it no longer does."""
    code = language.strip().lower()
    if not code.isalpha() or code == SOURCE_LANGUAGE:
        fail(f"language {language!r}: give a language code other than {SOURCE_LANGUAGE}, e.g. fr")
    try:
        Locale.parse(code)
    except (ValueError, UnknownLocaleError):
        fail(f"language {language!r}: no such language in Babel's data")
    path = update_catalog(code, locales)
    out.print(f"Updated {path}; `newsbot i18n check` lists what is left to translate.", markup=False)
