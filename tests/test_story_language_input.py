"""A story's language at every door: front matter, the stories API, the CLI, the desk's compose form and feeds;
stored as its short code, the outlet's NEWSBOT_DEFAULT_LANGUAGE when none is given, and anything that names no
language refused naming the field, with nothing stored."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from bot.app.errors import StoryRejected
from bot.app.newsroom import Newsroom
from bot.stories.feeds import read_feed, story_from_entry
from bot.stories.intake import prepare_for, publish_story
from bot.stories.parsing import parse_story
from bot.stories.story import Story
from bot.web import create_app
from subscribers import stories
from subscribers.schema import stories as stories_table
from tests.desk_sessions import csrf_of, desk_client
from tests.editor_fixtures import API_TOKEN
from tests.test_cli import assert_one_line_error, newsbot
from tests.test_cli import fresh_workdir as fresh_workdir  # the fixtures: a fresh directory with the embedded
from tests.test_cli import workdir as workdir  # defaults, and the same with its store migrated

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
BODY = "Der Stadtrat hat am Freitag den Haushalt für 2027 beschlossen. Die Opposition stimmte dagegen."


def with_front_matter(language: str) -> str:
    return f"---\ntitle: Haushalt beschlossen\nlanguage: {language}\ntopics: [local]\n---\n{BODY}\n"


async def stored_language(newsroom: Newsroom, story_id: str) -> str | None:
    async with newsroom.reader.connect() as conn:
        story = await stories.load_story(conn, story_id, Story)
    assert story is not None
    return story.language


async def story_count(newsroom: Newsroom) -> int:
    async with newsroom.reader.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(stories_table))).scalar_one()


async def test_front_matter_language_is_stored_as_its_short_code_and_the_default_fills_in(newsroom: Newsroom) -> None:
    draft = parse_story(with_front_matter("de-AT"), max_bytes=newsroom.settings.max_story_bytes)
    assert draft.language == "de"
    published = await publish_story(newsroom, prepare_for(newsroom, draft, source="cli"), actor="cli")
    assert await stored_language(newsroom, published.story.id) == "de"

    plain = parse_story("The council met on Friday. It passed the budget.", max_bytes=10_000)
    assert plain.language is None
    english = await publish_story(newsroom, prepare_for(newsroom, plain, source="cli"), actor="cli")
    assert await stored_language(newsroom, english.story.id) == "en"  # NEWSBOT_DEFAULT_LANGUAGE
    assert english.story.overview()["language"] == "en"

    norwegian = parse_story("---\nlanguage: no\n---\nByrådet vedtok budsjettet.", max_bytes=10_000)
    assert norwegian.language == "no", "YAML's unquoted no is Norwegian here, not false"


@pytest.mark.parametrize("value", ["klingon", "xx", "und", "1", "[de, en]"])
def test_front_matter_language_that_names_no_language_is_refused_naming_the_field(value: str) -> None:
    with pytest.raises(StoryRejected, match=r"front matter 'language' .* is not a language code such as en, de"):
        parse_story(with_front_matter(value), max_bytes=10_000)


@pytest.fixture
async def client(desk: Newsroom) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(desk))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        yield http


async def test_the_api_stores_the_language_field_over_the_front_matters(
    desk: Newsroom, client: httpx.AsyncClient
) -> None:
    answer = await client.post(
        "/api/stories", json={"body": "El concejo aprobó el presupuesto.", "language": "ES-mx"}, headers=AUTH
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["language"] == "es"
    assert await stored_language(desk, answer.json()["id"]) == "es"

    from_body = await client.post("/api/stories", json={"body": with_front_matter("fr")}, headers=AUTH)
    assert from_body.json()["language"] == "fr"
    overridden = await client.post(
        "/api/stories",
        json={"body": with_front_matter("fr").replace("Haushalt", "Etat"), "language": "de"},
        headers=AUTH,
    )
    assert overridden.json()["language"] == "de"
    shown = await client.get(f"/api/stories/{overridden.json()['id']}", headers=AUTH)
    assert shown.json()["language"] == "de"
    page = await client.get(f"/stories/{overridden.json()['id']}")
    assert page.status_code == 200 and '<html lang="en">' in page.text  # what newsbot puts around it
    assert '<h1 lang="de">Etat beschlossen</h1>' in page.text and '<div class="story-text" lang="de">' in page.text


async def test_the_api_refuses_a_language_that_names_none_with_a_422_naming_it(
    desk: Newsroom, client: httpx.AsyncClient
) -> None:
    for value in ("klingon", "", 7):
        answer = await client.post("/api/stories", json={"body": BODY, "language": value}, headers=AUTH)
        assert answer.status_code == 422, answer.text
        assert [error["loc"] for error in answer.json()["detail"]] == [["body", "language"]]
    in_body = await client.post("/api/stories", json={"body": with_front_matter("zz")}, headers=AUTH)
    assert in_body.status_code == 422 and "front matter 'language'" in in_body.text
    assert await story_count(desk) == 0


def test_the_cli_takes_language_from_front_matter_or_the_option_and_refuses_garbage_in_one_line(
    workdir: Path,
) -> None:
    german = workdir / "haushalt.md"
    german.write_text(with_front_matter("de"), encoding="utf-8")
    result = newsbot("ingest", str(german), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["language"] == "de"

    spanish = workdir / "presupuesto.txt"
    spanish.write_text("El concejo aprobó el presupuesto el viernes. La oposición votó en contra.\n", encoding="utf-8")
    shown = newsbot("ingest", str(spanish), "--language", "es-ES", "--dry-run")
    assert shown.exit_code == 0, shown.stderr
    assert "  language: es" in shown.stdout

    assert_one_line_error(
        newsbot("ingest", str(spanish), "--language", "martian"), "--language 'martian' is not a language code"
    )
    bad = workdir / "bad.md"
    bad.write_text(with_front_matter("qq"), encoding="utf-8")
    assert_one_line_error(newsbot("ingest", str(bad)), "bad.md", "front matter 'language' 'qq'")
    listed = json.loads(newsbot("ingest", str(german), "--json").stdout)
    assert listed["created"] is False, "only the first story was stored"


async def test_the_desk_form_preselects_the_outlets_language_and_stores_the_one_chosen(newsroom: Newsroom) -> None:
    async with desk_client(newsroom) as client:
        form = await client.get("/desk")
        assert re.search(r'<option value="en" selected>English \(en\)</option>', form.text)
        assert '<option value="de">Deutsch (de)</option>' in form.text
        token = csrf_of(form.text)
        fields = {"csrf_token": token, "body": BODY, "topics_shown": "1", "topic": "local"}
        preview = await client.post("/desk/preview", data={**fields, "language": "de"})
        assert '<span id="language">de</span>' in preview.text
        assert 'name="language" value="de"' in preview.text  # carried to Send
        sent = await client.post("/desk/send", data={**fields, "language": "de"})
        assert sent.status_code == 303
        story_id = sent.headers["location"].split("/")[-1].split("?")[0]
        assert await stored_language(newsroom, story_id) == "de"

        page = await client.get(f"/desk/stories/{story_id}")
        assert 'written in <span id="language">de</span>' in page.text
        listed = await client.get("/desk/stories")
        assert '<span class="language">de</span>' in listed.text

        front = await client.post("/desk/preview", data={**fields, "body": with_front_matter("es"), "language": "en"})
        assert '<span id="language">es</span>' in front.text, "the front matter's, the select left at the default"
        refused = await client.post("/desk/preview", data={**fields, "language": "elvish"})
    assert refused.status_code == 422 and "Language:" in refused.text and "aria-invalid" in refused.text


ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="de">
<title>Stadtnachrichten</title><id>urn:feed</id><updated>2026-11-27T08:00:00Z</updated>
<entry><id>urn:de</id><title>Haushalt beschlossen</title><updated>2026-11-27T08:00:00Z</updated>
<content type="html">&lt;p&gt;Der Stadtrat hat den Haushalt beschlossen.&lt;/p&gt;</content></entry>
<entry xml:lang="es"><id>urn:es</id><title>Presupuesto aprobado</title><updated>2026-11-27T08:00:00Z</updated>
<content type="html">&lt;p&gt;El concejo aprobo el presupuesto.&lt;/p&gt;</content></entry>
<entry xml:lang="x-nonsense"><id>urn:xx</id><title>Budget passed</title><updated>2026-11-27T08:00:00Z</updated>
<content type="html">&lt;p&gt;The council passed the budget.&lt;/p&gt;</content></entry>
</feed>"""


def test_a_feed_entry_takes_its_own_language_else_the_feeds_else_the_outlets(newsroom: Newsroom) -> None:
    made = [
        story_from_entry(entry, settings=newsroom.settings, taxonomy=newsroom.taxonomy, tagger=newsroom.tagger)
        for entry in read_feed(ATOM)
    ]
    assert [story.language for story in made] == ["de", "es", "en"]
