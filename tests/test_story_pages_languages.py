"""Public story pages and topic archives in the browser's language: what newsbot puts around a story (labels,
dates, the pager, the not-found pages) follows Accept-Language, else NEWSBOT_DEFAULT_LANGUAGE; the story stays as
written. Through the real app (httpx ASGI transport) on a real store."""

from __future__ import annotations

from datetime import timedelta

from bot.app.newsroom import Newsroom
from bot.languages.formatting import long_date
from bot.stories.corrections import correct_story
from bot.stories.parsing import parse_story
from tests.email_readers import store_story_at, web_client
from tests.fakes.clock import ManualClock
from tests.test_story_pages import BUDGET, PageParts, publish

GERMAN = {"Accept-Language": "de-CH,de;q=0.9,en;q=0.5"}


async def test_a_german_browser_reads_the_story_page_around_the_story_in_german(newsroom: Newsroom) -> None:
    newsroom.clock = clock = ManualClock()
    story = await publish(newsroom, BUDGET.replace("topics: [local]", "topics: [local]\nbreaking: true"))
    clock.advance(hours=2)
    corrected = parse_story(BUDGET.replace("12 million", "21 million"), max_bytes=10**6)
    await correct_story(newsroom, story.id, corrected, actor="cli", note="The budget is 21 million, not 12.")
    async with web_client(newsroom) as client:
        german = await client.get(f"/stories/{story.id}", headers=GERMAN)
        english = await client.get(f"/stories/{story.id}")
        missing = await client.get("/stories/no-such-story", headers=GERMAN)

    assert german.status_code == 200
    assert german.headers["content-language"] == "de" and german.headers["vary"] == "Accept-Language"
    assert '<html lang="de">' in german.text
    text = PageParts(german.text).text
    assert "EILMELDUNG" in text and "Korrigiert: The budget is 21 million, not 12." in text
    assert f"{long_date(clock.now().date(), 'de')}, {clock.now():%H:%M} UTC" in text  # "1. Dezember 2026, 16:05"
    assert "Bei Fairview Gazette lesen" in text and "Mehr zu Local" in text
    assert "The city council on Friday approved a budget of 21 million dollars" in text  # the story as written
    assert "Read it at" not in text and "BREAKING" not in text

    assert english.headers["content-language"] == "en" and "Read it at Fairview Gazette" in english.text
    assert missing.status_code == 404 and missing.headers["content-language"] == "de"
    assert "Artikel nicht gefunden" in missing.text and "Anmelden" in missing.text


async def test_a_german_browser_reads_a_topic_archive_in_german(newsroom: Newsroom) -> None:
    now = newsroom.clock.now()
    for minutes in range(21):  # two pages
        await store_story_at(newsroom, now - timedelta(minutes=minutes + 1), f"s{minutes}", f"Local {minutes}", "local")
    async with web_client(newsroom) as client:
        first = await client.get("/topics/local", headers=GERMAN)
        second = await client.get("/topics/local?page=2", headers=GERMAN)
        beyond = await client.get("/topics/local?page=3", headers=GERMAN)
        empty = await client.get("/topics/sports", headers=GERMAN)
        unknown = await client.get("/topics/no-such-topic", headers=GERMAN)

    assert first.headers["content-language"] == "de" and first.headers["vary"] == "Accept-Language"
    text = PageParts(first.text).text
    assert "Local per E-Mail erhalten" in text and "Atom-Feed" in text and "Seite 1 von 2" in text
    assert "Ältere ›" in text and long_date((now - timedelta(minutes=1)).date(), "de") in text
    assert "Local 0" in text  # headlines as written
    assert "‹ Neuere" in PageParts(second.text).text and "(Seite 2)" in second.text
    assert beyond.status_code == 404 and "Local hat 2 Seiten mit Artikeln." in beyond.text
    assert "Noch keine Artikel." in empty.text
    assert unknown.status_code == 404 and "Thema nicht gefunden" in unknown.text


async def test_without_accept_language_the_pages_speak_the_outlets_language(newsroom: Newsroom) -> None:
    newsroom.settings = newsroom.settings.model_copy(update={"default_language": "es"})
    await store_story_at(newsroom, newsroom.clock.now() - timedelta(minutes=1), "cup", "Falcons win the cup", "sports")
    async with web_client(newsroom) as client:
        page = await client.get("/stories/cup")
        archive = await client.get("/topics/sports", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert page.headers["content-language"] == "es" and "Más sobre Sports" in PageParts(page.text).text
    assert archive.headers["content-language"] == "es" and "Recibe Sports por correo" in archive.text
