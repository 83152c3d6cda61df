"""Feeds served by a local HTTP server on 127.0.0.1: conditional polling, each entry once, broken feeds isolated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape

import pytest
from sqlalchemy import select

from bot.config import Settings, load_settings
from bot.errors import ConfigurationError
from bot.feeds import poll_feeds
from bot.newsroom import Newsroom
from subscribers import queries
from subscribers.schema import audit_log, deliveries, feed_entries, stories
from tests.fakes.http_endpoints import FeedHost
from tests.newsroom_fixtures import add_reader

WORLD = "/world.xml"
NK_TEXT = (
    "<p>North Korea tested a new missile on Tuesday, Pyongyang's state media said.</p>"
    "<p>Kim Jong-un watched the launch. South Korea and Japan condemned the North Korean test.</p>"
)


def item(guid: str, title: str, html: str, *, categories: tuple[str, ...] = (), age: timedelta = timedelta(hours=1),
         link: str | None = None) -> str:
    published = format_datetime(datetime.now(UTC) - age, usegmt=True)
    tags = "".join(f"<category>{escape(c)}</category>" for c in categories)
    return (
        f"<item><guid>{guid}</guid><title>{escape(title)}</title>"
        f"<link>{link or 'https://fairview-gazette.example/' + guid}</link>"
        f"<description>{escape(html)}</description>{tags}<pubDate>{published}</pubDate></item>"
    )


def rss(*items: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Fairview Gazette: World</title>'
        f"<link>https://fairview-gazette.example/</link>{''.join(items)}</channel></rss>"
    )


@pytest.fixture
async def feed_room(settings: Settings, feed_host: FeedHost) -> AsyncIterator[Newsroom]:
    feeds = (feed_host.url(WORLD), feed_host.url("/broken.xml"))
    room = await Newsroom.open(settings.model_copy(update={"feeds": feeds}))
    try:
        yield room
    finally:
        await room.close()


async def story_rows(newsroom: Newsroom) -> list:
    async with newsroom.engine.connect() as conn:
        return list(await conn.execute(select(stories).order_by(stories.c.created_at)))


async def test_a_feed_is_ingested_once_and_the_second_poll_is_a_conditional_304(
    feed_room: Newsroom, feed_host: FeedHost
) -> None:
    await add_reader(feed_room, "north-korea", telegram_chat="101")
    feed_host.publish(WORLD, rss(item("nk-1", "North Korea tests a missile", NK_TEXT, categories=("North Korea",))))
    feed_host.publish("/broken.xml", rss())

    first = await poll_feeds(feed_room)
    (world, _) = first.results
    assert world.status == "updated" and len(world.ingested) == 1
    (story,) = await story_rows(feed_room)
    assert story.source == "feed" and story.url == "https://fairview-gazette.example/nk-1"
    assert story.title == "North Korea tests a missile"
    async with feed_room.engine.connect() as conn:
        assert (await conn.execute(select(deliveries.c.channel))).scalars().all() == ["telegram"]

    second = await poll_feeds(feed_room)
    assert second.results[0].status == "not-modified" and second.ingested == []
    last = feed_host.requests_to(WORLD)[-1]
    assert last.headers["if-none-match"].startswith('"')
    assert last.headers["if-modified-since"] == "Mon, 01 Dec 2025 10:00:00 GMT"
    assert len(await story_rows(feed_room)) == 1


async def test_a_changed_feed_ingests_only_its_new_entries(feed_room: Newsroom, feed_host: FeedHost) -> None:
    old = item("nk-1", "North Korea tests a missile", NK_TEXT)
    feed_host.publish(WORLD, rss(old))
    await poll_feeds(feed_room)
    feed_host.publish(WORLD, rss(item("nk-2", "Pyongyang answers Seoul", NK_TEXT.replace("missile", "rocket")), old))

    report = await poll_feeds(feed_room)

    assert report.results[0].status == "updated" and len(report.ingested) == 1
    titles = [row.title for row in await story_rows(feed_room)]
    assert titles == ["North Korea tests a missile", "Pyongyang answers Seoul"]


async def test_feed_categories_the_taxonomy_knows_become_topics_and_others_are_ignored(
    feed_room: Newsroom, feed_host: FeedHost
) -> None:
    text = "<p>The Fairview Falcons won on Saturday, the coach said after a long evening.</p>"
    feed_host.publish(WORLD, rss(item("falcons", "Falcons win", text, categories=("Sports", "Gardening tips"))))

    (story_id,) = (await poll_feeds(feed_room)).ingested

    async with feed_room.engine.connect() as conn:
        story = await queries.load_story(conn, story_id)
    assert story is not None and "sports" in story.topics
    assert "<p>" not in story.body and "The Fairview Falcons won on Saturday" in story.body


async def test_a_broken_feed_is_recorded_and_retried_without_stopping_the_others(
    feed_room: Newsroom, feed_host: FeedHost
) -> None:
    feed_host.publish(WORLD, rss(item("nk-1", "North Korea tests a missile", NK_TEXT)))
    broken_url = feed_host.url("/broken.xml")  # not published yet: 404

    first = await poll_feeds(feed_room)

    assert [r.status for r in first.results] == ["updated", "failed"]
    assert first.results[1].error == "HTTP 404 Not Found"
    async with feed_room.engine.connect() as conn:
        state = await queries.load_feed_state(conn, broken_url)
    assert state is not None and state.failures == 1 and state.last_error == "HTTP 404 Not Found"

    feed_host.publish("/broken.xml", "<html><body>Site maintenance</body></html>")
    second = await poll_feeds(feed_room)
    assert second.results[1].status == "failed" and "not an RSS or Atom feed" in (second.results[1].error or "")

    feed_host.publish("/broken.xml", rss(item("local-1", "Council meets", "<p>The city council meets on Monday.</p>")))
    third = await poll_feeds(feed_room)
    assert third.results[1].status == "updated" and len(third.results[1].ingested) == 1
    async with feed_room.engine.connect() as conn:
        state = await queries.load_feed_state(conn, broken_url)
    assert state is not None and state.failures == 0 and state.last_error is None


async def test_an_unreachable_feed_is_a_recorded_failure(settings: Settings) -> None:
    async with await Newsroom.open(settings.model_copy(update={"feeds": ("http://127.0.0.1:9/feed.xml",)})) as room:
        report = await poll_feeds(room)
    assert report.results[0].status == "failed" and "ConnectError" in (report.results[0].error or "")


async def test_old_entries_are_remembered_but_never_sent(feed_room: Newsroom, feed_host: FeedHost) -> None:
    feed_host.publish(WORLD, rss(item("archive", "North Korea in 2019", NK_TEXT, age=timedelta(days=30))))

    report = await poll_feeds(feed_room)

    assert report.ingested == [] and report.results[0].skipped == 1
    assert await story_rows(feed_room) == []
    async with feed_room.engine.connect() as conn:
        (entry,) = list(await conn.execute(select(feed_entries)))
    assert entry.entry_key == "archive" and entry.story_id is None


async def test_feed_stories_are_audited_with_the_feed_as_actor(feed_room: Newsroom, feed_host: FeedHost) -> None:
    feed_host.publish(WORLD, rss(item("nk-1", "North Korea tests a missile", NK_TEXT)))
    await poll_feeds(feed_room)
    async with feed_room.engine.connect() as conn:
        (entry,) = list(await conn.execute(select(audit_log)))
    assert entry.actor == f"feed:{feed_host.url(WORLD)}" and entry.action == "story"


def test_the_feeds_setting_takes_comma_separated_http_urls_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_FEEDS", "https://a.example/rss.xml, https://b.example/atom.xml")
    assert load_settings().feeds == ("https://a.example/rss.xml", "https://b.example/atom.xml")
    monkeypatch.setenv("NEWSBOT_FEEDS", "ftp://a.example/rss.xml")
    with pytest.raises(ConfigurationError, match="NEWSBOT_FEEDS"):
        load_settings()
