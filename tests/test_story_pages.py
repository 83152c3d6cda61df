"""Story pages, topic archives and Atom feeds through the real app (httpx ASGI transport) on a real store."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from html.parser import HTMLParser

import feedparser

from bot.app.newsroom import Newsroom
from bot.languages.formatting import long_date
from bot.rendering.story_body import plain_text
from bot.rendering.story_links import read_more_url, topic_archive_url
from bot.stories.corrections import correct_story
from bot.stories.intake import ingest_story, prepare_for, publish_story
from bot.stories.parsing import parse_story
from bot.stories.retraction import retract_story
from bot.stories.story import Story
from bot.web.story_pages import PAGE_SIZE
from tests.email_readers import store_story_at, web_client
from tests.fakes.clock import ManualClock
from tests.test_delivery import sample, story_from

SITE = "https://news.example.org"

BUDGET = """---
title: Council passes the 2027 budget
url: https://fairview-gazette.example/council-budget
topics: [local]
id: council-budget-2027
---
The city council on Friday approved a budget of 12 million dollars for 2027, after a long debate.

## What changes

- More buses on **line 4**
- A new library, says the [city](https://fairview.example/library)
"""


class PageParts(HTMLParser):
    """What the tests look at in a page: meta tags, links, elements met, and the visible text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.meta: dict[str, str] = {}
        self.links: dict[str, str] = {}
        self.tags: list[str] = []
        self.anchors: list[str] = []
        self._text: list[str] = []
        self._hidden = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.tags.append(tag)
        if tag == "meta" and "content" in values:
            self.meta[values.get("property") or values.get("name", "")] = values["content"]
        elif tag == "link" and "rel" in values:
            self.links[values["rel"]] = values.get("href", "")
        elif tag == "a":
            self.anchors.append(values.get("href", ""))
        if tag in ("style", "script", "title"):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "title"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self._text.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self._text).split())


async def publish(newsroom: Newsroom, text: str) -> Story:
    story = prepare_for(newsroom, parse_story(text, max_bytes=1_000_000), source="cli")
    return (await publish_story(newsroom, story, actor="cli")).story


async def test_the_sample_story_without_a_url_gets_a_page_that_previews_well(newsroom: Newsroom) -> None:
    story = sample(newsroom)
    await ingest_story(newsroom, story)
    page_url = f"{SITE}/stories/{story.id}"
    assert story.url is None and read_more_url(newsroom.settings, story) == page_url

    async with web_client(newsroom) as client:
        answer = await client.get(f"/stories/{story.id}")
        with_slug = await client.get(f"/stories/{story.id}/trump-hints-at-north-korea-talks")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    assert with_slug.status_code == 200 and with_slug.text == answer.text
    page = PageParts(answer.text)
    assert page.meta["og:type"] == "article"
    assert page.meta["og:title"] == page.meta["twitter:title"] == story.title
    assert (
        page.meta["og:description"] == page.meta["twitter:description"] == " ".join(plain_text(story.summary).split())
    )
    assert page.meta["og:url"] == page.links["canonical"] == page_url
    assert page.meta["twitter:card"] == "summary" and "og:image" not in page.meta
    assert "robots" not in page.meta  # a public article may be indexed, unlike the reader's personal pages
    assert page.tags.count("p") >= 5  # every paragraph of the wire copy
    assert "Panmunjom Village" in page.text and "script" not in page.tags
    assert f"{SITE}/topics/north-korea" in page.anchors
    assert "default-src 'none'" in answer.headers["content-security-policy"]


async def test_a_story_with_the_outlets_url_points_there_as_its_canonical_page(newsroom: Newsroom) -> None:
    story = await publish(newsroom, BUDGET)
    async with web_client(newsroom) as client:
        answer = await client.get("/stories/council-budget-2027")
    page = PageParts(answer.text)
    outlet = "https://fairview-gazette.example/council-budget"
    assert read_more_url(newsroom.settings, story) == outlet
    assert page.links["canonical"] == page.meta["og:url"] == outlet
    assert outlet in page.anchors and "https://fairview.example/library" in page.anchors
    assert {"h2", "ul", "li", "b"} <= set(page.tags)
    assert "More buses on line 4" in page.text


async def test_a_story_with_an_image_shows_it_and_offers_it_to_link_previews(newsroom: Newsroom) -> None:
    picture = "https://fairview-gazette.example/council.jpg"
    front = f"id: council-budget-2027\nimage: {picture}\nimage_alt: The council chamber\n"
    story = await publish(newsroom, BUDGET.replace("id: council-budget-2027\n", front))
    async with web_client(newsroom) as client:
        page = PageParts((await client.get(f"/stories/{story.id}")).text)
    assert page.meta["og:image"] == page.meta["twitter:image"] == picture
    assert page.meta["og:image:alt"] == "The council chamber"
    assert page.meta["twitter:card"] == "summary_large_image" and "img" in page.tags


async def test_a_hostile_title_and_body_are_text_on_the_page(newsroom: Newsroom) -> None:
    title = '<script>alert("x")</script> & "Quotes" <b>'
    wire = "Shares of AT&T <Jr> rose as 3 < 5 and <img src=x onerror=alert(1)> went.\nA second line."
    story = dataclasses.replace(story_from(newsroom, wire), id="hostile", title=title)
    await ingest_story(newsroom, story)
    async with web_client(newsroom) as client:
        answer = await client.get("/stories/hostile")
    page = PageParts(answer.text)
    assert "<script>" not in answer.text and "<img src=x" not in answer.text
    assert "script" not in page.tags and "img" not in page.tags
    assert page.meta["og:title"] == title and title in page.text
    assert "Shares of AT&T <Jr> rose as 3 < 5 and" in page.text  # the intake drops the tag itself


async def test_a_corrected_story_says_so_with_its_note_and_time(newsroom: Newsroom) -> None:
    newsroom.clock = clock = ManualClock()
    story = await publish(newsroom, BUDGET)
    clock.advance(hours=2)
    note = "The budget is 21 million, not 12."
    await correct_story(newsroom, story.id, parse_story(BUDGET.replace("12 million", "21 million"), max_bytes=10**6),
                        actor="cli", note=note)  # fmt: skip
    async with web_client(newsroom) as client:
        answer = await client.get(f"/stories/{story.id}")
    page = PageParts(answer.text)
    assert answer.status_code == 200
    assert f"Corrected: {note}" in page.text
    assert "21 million dollars" in page.text and "12 million dollars" not in page.text
    corrected = long_date(clock.now().date(), "en")  # "December 1, 2026": Babel's English, as in the emails
    assert corrected in page.text and page.meta["article:modified_time"].startswith(clock.now().strftime("%Y-%m-%d"))


async def test_a_withdrawn_story_is_gone_with_a_notice_and_leaves_archive_and_feed(newsroom: Newsroom) -> None:
    story = await publish(newsroom, BUDGET)
    await retract_story(newsroom, story.id, actor="cli", note="The vote was postponed.")
    async with web_client(newsroom) as client:
        answer = await client.get(f"/stories/{story.id}")
        archive = await client.get("/topics/local")
        feed = feedparser.parse((await client.get("/topics/local/feed.atom")).content)
    page = PageParts(answer.text)
    assert answer.status_code == 410
    assert "withdrew this story" in page.text and "The vote was postponed." in page.text
    assert "12 million" not in answer.text and "Council passes" not in answer.text and "og:title" not in page.meta
    assert page.meta["robots"] == "noindex"
    assert "Council passes" not in archive.text and "No stories yet." in archive.text
    assert feed.entries == []


async def test_before_its_embargo_a_story_has_no_page_like_an_unknown_one(newsroom: Newsroom) -> None:
    newsroom.clock = clock = ManualClock()
    at = (clock.now() + timedelta(hours=2)).isoformat(timespec="seconds")
    story = await publish(newsroom, BUDGET.replace("id: council", f"publish_at: {at}\nid: council"))
    assert story.publish_at is not None
    async with web_client(newsroom) as client:
        early = await client.get(f"/stories/{story.id}")
        unknown = await client.get("/stories/no-such-story")
        early_archive = await client.get("/topics/local")
        clock.advance(hours=2, seconds=1)
        published = await client.get(f"/stories/{story.id}")
        archive = await client.get("/topics/local")
    assert early.status_code == unknown.status_code == 404
    assert PageParts(early.text).text == PageParts(unknown.text).text
    assert "Council passes" not in early_archive.text
    assert published.status_code == 200 and "Council passes" in archive.text


async def test_a_topic_archive_pages_its_stories_newest_first(newsroom: Newsroom) -> None:
    now = newsroom.clock.now()
    count = 2 * PAGE_SIZE + 5
    for minutes in range(count):  # story 0 is the newest
        await store_story_at(
            newsroom, now - timedelta(minutes=minutes + 1), f"s{minutes}", f"Local story {minutes}", "local"
        )
    await store_story_at(newsroom, now - timedelta(minutes=1), "cup", "Falcons win the cup", "sports")

    async with web_client(newsroom) as client:
        pages = [await client.get("/topics/local" + (f"?page={n}" if n > 1 else "")) for n in (1, 2, 3)]
        beyond = await client.get("/topics/local?page=4")
        bad = await client.get("/topics/local?page=two")
        unknown = await client.get("/topics/no-such-topic")
    assert [answer.status_code for answer in pages] == [200, 200, 200]
    listed = [[href.rsplit("/", 1)[1] for href in PageParts(a.text).anchors if "/stories/" in href] for a in pages]
    assert [len(ids) for ids in listed] == [PAGE_SIZE, PAGE_SIZE, 5]
    assert [story_id for ids in listed for story_id in ids] == [f"s{n}" for n in range(count)]
    first = PageParts(pages[0].text)
    assert f"{SITE}/topics/local?page=2" in first.anchors and "Page 1 of 3" in first.text
    assert f"{SITE}/topics/local" in PageParts(pages[1].text).anchors  # "newer" from page 2 is page 1
    assert "Falcons" not in pages[0].text
    assert first.links["alternate"] == f"{SITE}/topics/local/feed.atom"
    assert beyond.status_code == 404 and unknown.status_code == 404
    assert bad.status_code == 400 and "whole number" in bad.text
    assert topic_archive_url(newsroom.settings, "local") == f"{SITE}/topics/local"


async def test_a_topics_atom_feed_is_valid_and_has_each_entrys_fields(newsroom: Newsroom) -> None:
    now = newsroom.clock.now()
    hostile = 'Fire & "smoke" <at> the mill'
    await store_story_at(newsroom, now - timedelta(hours=2), "older", "Older local story", "local")
    await store_story_at(
        newsroom, now - timedelta(hours=1), "mill", hostile, "local", url="https://gazette.example/mill"
    )
    async with web_client(newsroom) as client:
        answer = await client.get("/topics/local/feed.atom")
        empty = feedparser.parse((await client.get("/topics/sports/feed.atom")).content)
        unknown = await client.get("/topics/nope/feed.atom")
    assert answer.headers["content-type"] == "application/atom+xml; charset=utf-8"
    feed = feedparser.parse(answer.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.id == f"{SITE}/topics/local" and feed.feed.title == "Fairview Gazette: Local"
    assert feed.feed.updated_parsed is not None
    newest, older = feed.entries
    assert newest.title == hostile and newest.id == f"{SITE}/stories/mill"
    assert newest.link == "https://gazette.example/mill" and older.link == f"{SITE}/stories/older"
    assert newest.updated_parsed > older.updated_parsed and feed.feed.updated == newest.updated
    assert newest.summary.startswith("Our reporters covered this") and newest.tags[0].term == "local"
    assert empty.entries == [] and not empty.bozo
    assert unknown.status_code == 404


async def test_the_story_page_fits_a_375_px_phone_without_scrolling_sideways(newsroom: Newsroom, chromium: str) -> None:
    from playwright.async_api import async_playwright

    long_word = "Donaudampfschifffahrtsgesellschaftskapitänswitwenpensionsberechtigungsnachweis" * 2
    text = BUDGET.replace(
        "after a long debate.", f"after a long debate about {long_word} and https://fairview.example/{'x' * 120}."
    )
    story = await publish(newsroom, text)
    async with web_client(newsroom) as client:
        html = (await client.get(f"/stories/{story.id}")).text
        archive = (await client.get("/topics/local")).text
    async with async_playwright() as playwright:
        browser = await playwright.chromium.connect(chromium)
        try:
            page = await browser.new_page(viewport={"width": 375, "height": 812})
            for document in (html, archive):
                await page.set_content(document)
                widths = await page.evaluate(
                    "() => [document.documentElement.scrollWidth,"
                    " Math.max(...[...document.querySelectorAll('body *')].map(e => e.getBoundingClientRect().right))]"
                )
                assert widths[0] <= 375 and widths[1] <= 375, widths
        finally:
            await browser.close()
