"""Feeds served by a local HTTP server on 127.0.0.1: conditional polling, each entry once, broken feeds isolated."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from bot.app.config import Settings, load_settings
from bot.app.errors import ConfigurationError
from bot.app.newsroom import Newsroom
from bot.stories.feeds import poll_feeds
from bot.stories.story import Story
from subscribers import feeds as feeds_store
from subscribers import stories as stories_store
from subscribers.database import create_engine
from subscribers.migrate import head_revision, upgrade_database
from subscribers.schema import audit_log, deliveries, feed_entries, metadata, stories
from subscribers.schema import feeds as schema_feeds
from subscribers.secret_names import feed_name, scrub, url_digest
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
        story = await stories_store.load_story(conn, story_id, Story)
    assert story is not None and "sports" in story.topics
    assert "<p>" not in story.body and "The Fairview Falcons won on Saturday" in story.body


async def test_a_feed_entrys_html_keeps_its_links_and_lists_and_loses_its_scripts(
    feed_room: Newsroom, feed_host: FeedHost
) -> None:
    text = (
        '<p>The <a href="https://fairview-gazette.example/falcons">Falcons</a> won on Saturday.</p>'
        "<script>track()</script><ul><li>Final score 3 &lt; 5</li><li>Next game Friday</li></ul>"
    )
    feed_host.publish(WORLD, rss(item("falcons", "Falcons win", text, categories=("Sports",))))

    (story_id,) = (await poll_feeds(feed_room)).ingested

    async with feed_room.engine.connect() as conn:
        story = await stories_store.load_story(conn, story_id, Story)
    assert story is not None
    assert story.body == (
        "The [Falcons](https://fairview-gazette.example/falcons) won on Saturday.\n\n"
        "- Final score 3 < 5\n- Next game Friday"
    )
    assert story.summary == story.body


async def test_a_broken_feed_is_recorded_and_retried_without_stopping_the_others(
    feed_room: Newsroom, feed_host: FeedHost
) -> None:
    feed_host.publish(WORLD, rss(item("nk-1", "North Korea tests a missile", NK_TEXT)))
    broken_url = feed_host.url("/broken.xml")  # not published yet: 404

    first = await poll_feeds(feed_room)

    assert [r.status for r in first.results] == ["updated", "failed"]
    assert first.results[1].error == "HTTP 404 Not Found"
    async with feed_room.engine.connect() as conn:
        state = await feeds_store.load_feed_state(conn, broken_url)
    assert state is not None and state.failures == 1 and state.last_error == "HTTP 404 Not Found"

    feed_host.publish("/broken.xml", "<html><body>Site maintenance</body></html>")
    second = await poll_feeds(feed_room)
    assert second.results[1].status == "failed" and "not an RSS or Atom feed" in (second.results[1].error or "")

    feed_host.publish("/broken.xml", rss(item("local-1", "Council meets", "<p>The city council meets on Monday.</p>")))
    third = await poll_feeds(feed_room)
    assert third.results[1].status == "updated" and len(third.results[1].ingested) == 1
    async with feed_room.engine.connect() as conn:
        state = await feeds_store.load_feed_state(conn, broken_url)
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


# --- issue 10, point 11: credentials in feed URLs never reach the store or the logs ------------------------

PASSWORD = "pa55-w0rd-FEED"
TOKEN = "t0ken-5ecret-FEED"


async def everything_stored(newsroom: Newsroom) -> str:
    """Every row of every table, as text: what a database dump would show."""
    dump = []
    async with newsroom.engine.connect() as conn:
        for table in metadata.sorted_tables:
            dump += [repr(tuple(row)) for row in await conn.execute(select(table))]
    return "\n".join(dump)


async def test_credentials_in_feed_urls_are_sent_to_the_feed_but_never_stored_or_logged(
    settings: Settings, feed_host: FeedHost, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for library in ("httpx", "httpcore"):  # as `newsbot run` sets them: they log every URL, Bot API tokens too
        caplog.set_level(logging.WARNING, logger=library)
    login = f"desk:{PASSWORD}"
    feed_host.publish("/private.xml", rss(item("nk-1", "North Korea tests a missile", NK_TEXT)), login=login)
    feed_host.publish(f"/wire.xml?token={TOKEN}", rss(item("local-1", "Council meets", "<p>The council meets.</p>")))
    with_login, with_token = feed_host.url("/private.xml", login=login), feed_host.url(f"/wire.xml?token={TOKEN}")
    failing = feed_host.url(f"/gone.xml?token={TOKEN}")  # 404: its error is recorded and logged
    feeds = (with_login, with_token, failing)
    async with await Newsroom.open(settings.model_copy(update={"feeds": feeds})) as room:
        first = await poll_feeds(room)
        second = await poll_feeds(room)
        stored = await everything_stored(room)
        async with room.engine.connect() as conn:
            actors = set((await conn.execute(select(audit_log.c.actor))).scalars())

    assert [r.status for r in first.results] == ["updated", "updated", "failed"]
    assert [r.status for r in second.results] == ["not-modified", "not-modified", "failed"]  # state found by name
    assert len(first.ingested) == 2 and second.ingested == []
    names = [feed_name(url) for url in feeds]
    assert [r.url for r in first.results] == names
    assert all(name.startswith("feed:127.0.0.1:") for name in names) and len(set(names)) == 3
    assert actors == {names[0], names[1]}  # the audit log names the feeds the stories came from
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert names[2] in logged  # the failure was logged, by the feed's name
    for secret in (PASSWORD, TOKEN):
        assert secret not in stored and secret not in logged
        assert all(secret not in str(result) for result in (*first.results, *second.results))


async def test_feeds_without_credentials_keep_their_url_as_their_name(feed_room: Newsroom, feed_host: FeedHost) -> None:
    assert feed_name(feed_host.url(WORLD)) == feed_host.url(WORLD)
    feed_host.publish(WORLD, rss(item("nk-1", "North Korea tests a missile", NK_TEXT)))
    report = await poll_feeds(feed_room)
    assert report.results[0].url == feed_host.url(WORLD)


def test_a_feed_name_is_the_service_and_a_hash_as_for_apprise_destinations() -> None:
    url = f"https://desk:{PASSWORD}@feeds.fairview-gazette.example/world.xml"
    assert feed_name(url) == f"feed:feeds.fairview-gazette.example:{url_digest(url)}"
    assert feed_name(url) != feed_name(url.replace("world", "local"))
    assert feed_name(f"https://feeds.example.org/rss?token={TOKEN}").startswith("feed:feeds.example.org:")
    assert feed_name("https://TOKEN@feeds.example.org/rss").startswith("feed:feeds.example.org:")
    assert scrub(f"cannot fetch {url}: bad {PASSWORD}", url) == f"cannot fetch {feed_name(url)}: bad …"


def test_a_bad_feed_setting_is_named_without_its_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_FEEDS", f"ftp://desk:{PASSWORD}@feeds.example.org/rss.xml")
    with pytest.raises(ConfigurationError, match="NEWSBOT_FEEDS") as refused:
        load_settings()
    assert PASSWORD not in str(refused.value) and "feeds.example.org" in str(refused.value)


# Migration 0007 renames feeds stored by a credentialed URL; the tables as revision 0006 has them.
_old_feeds = sa.table("feeds", sa.column("url"), sa.column("etag"), sa.column("last_error"), sa.column("failures"))
_old_entries = sa.table(
    "feed_entries", sa.column("feed_url"), sa.column("entry_key"), sa.column("story_id"), sa.column("created_at")
)
_old_audit = sa.table("audit_log", sa.column("at"), sa.column("actor"), sa.column("action"), sa.column("subject"))


async def test_migration_0007_renames_stored_feeds_and_their_entries_to_the_redacted_name(
    empty_store_url: str,
) -> None:
    private = f"https://desk:{PASSWORD}@feeds.fairview-gazette.example/world.xml"
    wire = f"https://wire.example.org/rss?token={TOKEN}"
    public = "https://fairview-gazette.example/local.xml"
    now = datetime.now(UTC)
    engine = create_engine(empty_store_url)
    try:
        await upgrade_database(engine, "0006")
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(_old_feeds),
                [
                    {"url": private, "etag": '"a1"', "last_error": f"ConnectError: {private}", "failures": 1},
                    {"url": wire, "etag": '"b2"', "last_error": None, "failures": 0},
                    {"url": public, "etag": '"c3"', "last_error": None, "failures": 0},
                ],
            )
            await conn.execute(
                sa.insert(_old_entries),
                [
                    {"feed_url": url, "entry_key": key, "story_id": None, "created_at": now}
                    for url in (private, wire, public)
                    for key in ("guid-1", "guid-2")
                ],
            )
            await conn.execute(
                sa.insert(_old_audit),
                [
                    {"at": now, "actor": f"feed:{url}"[:100], "action": "story", "subject": "s1"}
                    for url in (private, wire)
                ],
            )
        assert await upgrade_database(engine) == head_revision()
        async with engine.connect() as conn:
            stored = {row.url: row for row in await conn.execute(select(schema_feeds))}
            entries = {(row.feed_url, row.entry_key) for row in await conn.execute(select(feed_entries))}
            actors = set((await conn.execute(select(audit_log.c.actor))).scalars())
    finally:
        await engine.dispose()

    names = {url: feed_name(url) for url in (private, wire, public)}
    assert set(stored) == set(names.values()) and names[public] == public
    assert stored[names[private]].etag == '"a1"' and stored[names[wire]].etag == '"b2"'  # the state is kept
    assert stored[names[private]].last_error == f"ConnectError: {names[private]}"
    assert entries == {(name, key) for name in names.values() for key in ("guid-1", "guid-2")}
    assert actors == {names[private], names[wire]}
    dump = repr(stored) + repr(entries) + repr(actors)
    assert PASSWORD not in dump and TOKEN not in dump
