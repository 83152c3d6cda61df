"""Readers' languages: the shipped catalogs, English whenever a translation is missing, and Babel's dates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.app.config import Settings
from bot.languages.catalogs import (
    from_accept_language,
    gettext_in,
    language_name,
    language_of,
    languages,
    ngettext_in,
    translations,
)
from bot.languages.formatting import date_range, long_date, number
from bot.outbox.digest_weeks import parse_week
from bot.rendering.renderer import Renderer
from bot.stories.story import Story
from bot.topics.taxonomy import Taxonomy, Topic
from tests.test_rendering import make_story


@pytest.fixture
def renderer(tmp_path: Path) -> Renderer:
    settings = Settings(
        data_dir=tmp_path, secret_key="test-secret-of-at-least-32-characters", public_url="https://news.example.org"
    )
    return Renderer(settings, Taxonomy([Topic("local", "Local")]))


def story() -> Story:
    return make_story(author="City desk", published=dt.date(2026, 11, 27), breaking=True, topics=("local",))


def test_english_spanish_and_german_ship() -> None:
    assert languages() == ("en", "de", "es")
    assert [language_name(code) for code in languages()] == ["English", "Deutsch", "Español"]


def test_a_story_is_dressed_in_the_readers_language_and_kept_as_written(renderer: Renderer) -> None:
    german = renderer.telegram_message(story(), language="de")
    assert "🔴 <b>EILMELDUNG</b>" in german
    assert "Trump hints at talks with Kim" in german  # the story itself is never translated
    email = renderer.compile_email(story(), language="es")
    assert "Por City desk · 27 de noviembre de 2026" in email.text
    assert "Leer la noticia completa" in email.html
    assert '<html lang="es"' in email.html or 'lang="es"' in email.html
    english = renderer.compile_email(story())
    assert "By City desk · November 27, 2026" in english.text
    assert "Read the full story" in english.html


def test_confirmation_email_in_spanish_has_plural_days(renderer: Renderer) -> None:
    context = {"address": "lector@example.org", "confirm_url": "https://news.example.org/c/x", "topics": []}
    email = renderer.compile_email_set("confirm", {**context, "valid_days": 7, "valid_hours": 168, "language": "es"})
    assert email.subject == "Confirma tu suscripción a Fairview Gazette"
    assert "El enlace funciona durante 7 días." in email.text
    one_day = renderer.compile_email_set("confirm", {**context, "valid_days": 1, "valid_hours": 23, "language": "de"})
    assert "Der Link gilt 23 Stunden lang." in one_day.text


def test_a_missing_empty_or_fuzzy_translation_falls_back_to_english(tmp_path: Path) -> None:
    catalog = tmp_path / "fr" / "LC_MESSAGES" / "newsbot.po"
    catalog.parent.mkdir(parents=True)
    catalog.write_text(
        'msgid ""\nmsgstr ""\n"Language: fr\\n"\n"Plural-Forms: nplurals=2; plural=(n > 1);\\n"\n\n'
        'msgid "Unsubscribe"\nmsgstr "Se désabonner"\n\n'
        'msgid "Read more:"\nmsgstr ""\n\n'
        '#, fuzzy\nmsgid "Topics:"\nmsgstr "Sujets :"\n',
        encoding="utf-8",
    )
    french = translations("fr", tmp_path)
    assert french.gettext("Unsubscribe") == "Se désabonner"
    assert french.gettext("Read more:") == "Read more:"
    assert french.gettext("Topics:") == "Topics:"
    assert french.gettext("Manage preferences") == "Manage preferences"
    assert gettext_in("xx", "Unsubscribe") == "Unsubscribe"  # no catalog at all: English
    assert ngettext_in("de", "%(num)s story", "%(num)s stories", 2) == "%(num)s Artikel"


@pytest.mark.parametrize(
    ("asked", "default", "language"),
    [
        ("de", "en", "de"),
        ("de-AT", "en", "de"),
        ("ES_mx", "en", "es"),
        ("fr", "en", "en"),
        ("fr", "de", "de"),
        (None, "es", "es"),
        ("", "en", "en"),
        ("not a language!", "en", "en"),
    ],
)
def test_a_readers_language_is_the_one_asked_for_else_the_outlets(
    asked: str | None, default: str, language: str
) -> None:
    assert language_of(asked, default) == language


def test_accept_language_takes_the_first_language_newsbot_speaks_by_weight() -> None:
    assert from_accept_language("es-MX,es;q=0.9,en;q=0.5", "en") == "es"
    assert from_accept_language("fr-FR, fr;q=0.9, de;q=0.8, en;q=0.7", "en") == "de"
    assert from_accept_language("en;q=0.1, de;q=0.9", "en") == "de"
    assert from_accept_language("de;q=0, fr", "es") == "es"
    assert from_accept_language("de;q=abc, es", "en") == "es"
    assert from_accept_language(None, "en") == "en"


def test_dates_and_numbers_in_each_language() -> None:
    assert long_date(dt.date(2026, 11, 27), "de") == "27. November 2026"
    assert number(1234, "de") == "1.234"
    assert number(1234, "en") == "1,234"
    week = parse_week("2026-W48", dt.UTC)
    assert week.label == "November 23 – 29, 2026"
    assert week.label_in("de") == "23.–29. Nov. 2026"
    assert week.label_in("es") == "23–29 de noviembre de 2026"
    assert date_range(dt.date(2026, 12, 28), dt.date(2027, 1, 3), "en") == "December 28, 2026 – January 3, 2027"


def test_the_default_language_setting_is_checked(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path, default_language="de-DE").default_language == "de"
    with pytest.raises(ValueError, match="must be one of en, de, es"):
        Settings(data_dir=tmp_path, default_language="klingon")
