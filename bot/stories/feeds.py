"""Feeds: RSS and Atom sources (``NEWSBOT_FEEDS``) polled on a schedule, each entry ingested once.

Fetching is ours (httpx): a conditional GET with the ETag and Last-Modified remembered in the ``feeds`` table, so
an unchanged feed costs a 304 and no parsing; feedparser only parses the bytes. An entry is known by its GUID,
else its link (``feed_entries``), so it is ingested once however often it reappears. Its topics are the feed's
categories that the taxonomy knows (others are ignored) plus what the tagger finds.

Entries published more than ``NEWSBOT_FEED_MAX_AGE_HOURS`` ago are recorded as seen but never sent: adding a feed
with a long archive must not flood readers with old news. A feed that fails (network, HTTP error, not a feed) is
logged, its failure recorded, and tried again at the next poll; the other feeds are polled as usual.

A feed URL with credentials (``https://user:pass@host/feed``, ``?token=...``) is only fetched with them: the store,
the audit log, the logs and the reports name it ``feed:<host>:<hash>`` (`subscribers.secret_names.feed_name`).

Parsing runs off the event loop (:mod:`bot.app.cpu_pool`), in two pure steps: :func:`read_feed` turns the bytes
into entries (key, date and the fields a story is made of), and :func:`story_from_entry` makes one new entry a
story. Only the store lookups and writes between them run on the loop, so a 5 MB feed never holds up the sends.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import hashlib
import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any, Literal

import feedparser
import httpx
from bs4 import BeautifulSoup

import bot
from bot.app.config import Settings
from bot.app.cpu_pool import in_lane
from bot.app.errors import NewsbotError, StoryRejected, TopicNotFound
from bot.app.newsroom import Newsroom
from bot.app.tls import tls_context
from bot.languages.language_codes import language_code
from bot.stories.intake import prepare_story, publish_story
from bot.stories.markup_reading import Image, read_html_body
from bot.stories.parsing import StoryDraft, check_image_url, check_story_url, parse_story
from bot.stories.retagging import no_topic_warning
from bot.stories.story import MAX_TITLE_CHARS, Story
from bot.topics.distribution import Distribution
from bot.topics.tagging import TopicTagger
from bot.topics.taxonomy import Taxonomy
from subscribers import feeds
from subscribers.feeds import FeedState
from subscribers.secret_names import feed_name, scrub

log = logging.getLogger(__name__)

#: A feed larger than this is refused rather than read into memory.
MAX_FEED_BYTES = 10_000_000
FETCH_TIMEOUT = httpx.Timeout(20.0, connect=10.0)
_MAX_KEY = 2000
#: The parts of a feedparser entry a story is made of; only these cross back from the parsing process.
_ENTRY_FIELDS = ("title", "link", "content", "summary", "tags", "media_content", "media_thumbnail", "enclosures")


class FeedFailed(NewsbotError):
    """One feed could not be fetched or parsed; recorded on the feed and retried at the next poll."""


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One entry of a parsed feed: what makes it the same entry next time, its date, and its story's fields."""

    key: str
    published: datetime | None
    fields: dict[str, Any]
    #: The language the entry says it is in (its content's, else its summary's or title's), else the feed's; as
    #: given, checked when it becomes a story.
    language: str | None = None


@dataclass(frozen=True, slots=True)
class FeedResult:
    #: The feed as stored and logged: its URL, or ``feed:<host>:<hash>`` when the URL holds credentials.
    url: str
    status: Literal["updated", "not-modified", "failed"]
    #: Stories newly ingested from this feed.
    ingested: list[str] = field(default_factory=list)
    #: Entries seen for the first time but not ingested (too old, or refused as a story).
    skipped: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class FeedsReport:
    results: list[FeedResult]

    @property
    def ingested(self) -> list[str]:
        return [story_id for result in self.results for story_id in result.ingested]

    @property
    def failed(self) -> list[FeedResult]:
        return [result for result in self.results if result.status == "failed"]


async def poll_feeds(
    newsroom: Newsroom, *, client: httpx.AsyncClient | None = None, distribution: Distribution | None = None
) -> FeedsReport:
    """Poll every configured feed once, one after another; a failing feed never stops the others."""
    poller = FeedPoller(newsroom, distribution=distribution)
    if client is not None:
        return await poller.poll(client)
    async with _client() as own:
        return await poller.poll(own)


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=FETCH_TIMEOUT,
        follow_redirects=True,
        verify=tls_context(),
        headers={
            "User-Agent": f"newsbot/{bot.__version__}",
            "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.8",
        },
    )


class FeedPoller:
    """Polls ``NEWSBOT_FEEDS``: once (:meth:`poll`) or every ``NEWSBOT_FEED_INTERVAL`` seconds (:meth:`run`)."""

    def __init__(self, newsroom: Newsroom, *, distribution: Distribution | None = None) -> None:
        self.newsroom = newsroom
        self.settings = newsroom.settings
        self._distribution = distribution

    @property
    def distribution(self) -> Distribution:
        """The one handed in (a test's), else the newsroom's now: the desk may have changed it since the start."""
        return self._distribution if self._distribution is not None else self.newsroom.distribution

    async def poll(self, client: httpx.AsyncClient) -> FeedsReport:
        return FeedsReport([await self.poll_feed(client, url) for url in self.settings.feeds])

    async def run(self, stop: asyncio.Event, *, interval: float | None = None) -> None:
        """Poll until *stop* is set; the wait between polls ends early when it is."""
        interval = interval if interval is not None else self.settings.feed_interval
        async with _client() as client:
            while not stop.is_set():
                report = await self.poll(client)
                if report.ingested:
                    log.info("feeds: %d new stories", len(report.ingested))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)

    async def poll_feed(self, client: httpx.AsyncClient, url: str) -> FeedResult:
        """Fetch one feed conditionally and ingest its new entries; failures are recorded, not raised."""
        name = feed_name(url)  # what the store and the log know it by; only the request carries *url*
        async with self.newsroom.reader.connect() as conn:
            state = await feeds.load_feed_state(conn, name) or FeedState(name)
        now = self.newsroom.clock.now()
        try:
            fetched = await _fetch(client, url, state)
            if fetched is None:
                await self._save(replace(state, last_polled_at=now, last_error=None, failures=0))
                return FeedResult(name, "not-modified")
            content, etag, last_modified = fetched
            entries = await in_lane("feeds", read_feed, content)
            ingested, skipped = await self._ingest_entries(name, entries, now)
        except FeedFailed as exc:
            error = scrub(str(exc), url)
            log.warning("feed %s failed (%d in a row): %s", name, state.failures + 1, error)
            await self._save(replace(state, last_polled_at=now, last_error=error, failures=state.failures + 1))
            return FeedResult(name, "failed", error=error)
        await self._save(FeedState(name, etag, last_modified, now, None, 0))
        return FeedResult(name, "updated", ingested=ingested, skipped=skipped)

    async def _save(self, state: FeedState) -> None:
        async with self.newsroom.engine.begin() as conn:
            await feeds.save_feed_state(conn, state)

    async def _ingest_entries(self, name: str, entries: list[FeedEntry], now: datetime) -> tuple[list[str], int]:
        keyed = {entry.key: entry for entry in entries}
        async with self.newsroom.reader.connect() as conn:
            known = await feeds.known_feed_entries(conn, name, list(keyed))
        fresh = [(key, entry) for key, entry in keyed.items() if key not in known]
        fresh.sort(key=lambda item: item[1].published or now)  # oldest first, as they happened
        oldest_allowed = now - timedelta(hours=self.settings.feed_max_age_hours)
        ingested: list[str] = []
        skipped = 0
        for key, entry in fresh:
            story_id = None
            published = entry.published
            if published is not None and published < oldest_allowed:
                skipped += 1
            else:
                try:
                    story_id = await self._ingest(name, entry)
                except (StoryRejected, TopicNotFound) as exc:
                    log.warning("feed %s: entry %s refused: %s", name, key[:200], exc)
                    skipped += 1
                else:
                    ingested.append(story_id)
            async with self.newsroom.engine.begin() as conn:
                await feeds.record_feed_entry(conn, name, key, story_id, self.newsroom.clock.now())
        return ingested, skipped

    async def _ingest(self, name: str, entry: FeedEntry) -> str:
        newsroom = self.newsroom
        story = await in_lane(
            "feeds", story_from_entry, entry, settings=self.settings, taxonomy=newsroom.taxonomy, tagger=newsroom.tagger
        )
        actor = name if name.startswith("feed:") else f"feed:{name}"
        published = await publish_story(self.newsroom, story, actor=actor[:100], distribution=self.distribution)
        warning = no_topic_warning(published.story) if published.created else None
        if warning is not None:
            log.warning("feed entry: %s", warning)
        return published.story.id


async def _fetch(client: httpx.AsyncClient, url: str, state: FeedState) -> tuple[bytes, str | None, str | None] | None:
    """The feed's bytes and validators, or None when the server says it has not changed (304)."""
    headers = {}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    try:
        async with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                return None
            if response.status_code != 200:
                raise FeedFailed(f"HTTP {response.status_code} {response.reason_phrase}".strip())
            content = bytearray()
            async for chunk in response.aiter_bytes():
                content += chunk
                if len(content) > MAX_FEED_BYTES:
                    raise FeedFailed(f"feed is larger than {MAX_FEED_BYTES // 1_000_000} MB")
            return bytes(content), response.headers.get("etag"), response.headers.get("last-modified")
    except httpx.HTTPError as exc:
        raise FeedFailed(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None


def read_feed(content: bytes) -> list[FeedEntry]:
    """A feed's entries with a key (those without one are dropped); FeedFailed when it is not a feed.

    Pure, for the parsing process: feedparser is the costly part.
    """
    parsed = feedparser.parse(content)
    # feedparser accepts almost anything; an HTML page comes back with no version and no entries.
    if not parsed.entries and (not parsed.get("version") or (parsed.bozo and not parsed.feed.get("title"))):
        problem = parsed.get("bozo_exception")
        raise FeedFailed(f"not an RSS or Atom feed ({problem})" if problem else "not an RSS or Atom feed")
    feed_language = parsed.feed.get("language")
    entries = (
        FeedEntry(_entry_key(entry), _published(entry), _fields(entry), _language(entry) or feed_language)
        for entry in parsed.entries
    )
    return [entry for entry in entries if entry.key]


def _language(entry: Any) -> str | None:
    """The ``xml:lang`` feedparser read for the entry's content, summary or title (Atom sets it per element)."""
    details = [*(entry.get("content") or []), entry.get("summary_detail") or {}, entry.get("title_detail") or {}]
    return next((str(detail["language"]) for detail in details if detail.get("language")), None)


def story_from_entry(entry: FeedEntry, *, settings: Settings, taxonomy: Taxonomy, tagger: TopicTagger) -> Story:
    """A new entry as a story, its categories that the taxonomy knows as topics (pure: HTML cleaning, pysbd)."""
    fields = entry.fields
    categories = []
    for tag in fields.get("tags") or []:
        try:
            categories.append(taxonomy.resolve(str(tag.get("term") or "")).slug)
        except TopicNotFound:
            continue  # a category the newsroom does not publish as a topic
    # A language the entry names that is no language (a typo in the feed) leaves the outlet's: the entry is news.
    draft = replace(
        _draft(fields, settings.max_story_bytes), published=entry.published, language=language_code(entry.language)
    )
    return prepare_story(
        draft, settings=settings, taxonomy=taxonomy, tagger=tagger, extra_topics=categories, source="feed"
    )


def _fields(entry: Any) -> dict[str, Any]:
    """The entry's story fields as plain dicts and lists: less to pickle than feedparser's whole entry."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {str(key): plain(item) for key, item in value.items()}
        if isinstance(value, list):
            return [plain(item) for item in value]
        return value

    return {name: plain(entry[name]) for name in _ENTRY_FIELDS if name in entry}


def _entry_key(entry: Any) -> str:
    """GUID, else link, else a hash of the title: what makes an entry the same entry next time."""
    key = str(entry.get("id") or entry.get("link") or "")
    if not key and entry.get("title"):
        key = "title:" + hashlib.sha256(str(entry["title"]).encode()).hexdigest()
    return key[:_MAX_KEY]


def _published(entry: Any) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    return datetime.fromtimestamp(calendar.timegm(parsed), UTC) if parsed else None


def _draft(entry: dict[str, Any], max_bytes: int) -> StoryDraft:
    """An entry as a story draft: its HTML content read as every HTML body is, link kept only when it is http(s)."""
    contents = entry.get("content") or []
    markup = str(contents[0].get("value", "") if contents else entry.get("summary", ""))
    title = _plain(str(entry.get("title") or "")) or None
    body = read_html_body(markup)
    if not body.blocks:  # nothing but a script, an image or whitespace: the title is the story
        markup = escape(title or "")
    draft = parse_story(markup, max_bytes=max_bytes, markup="html")
    link = entry.get("link")
    try:
        url = check_story_url(link) if link else None
    except StoryRejected:
        url = None
    image = _feed_image(entry) or body.image
    return replace(
        draft,
        title=title[:MAX_TITLE_CHARS] if title else draft.title,
        url=url,
        image_url=image.url if image else None,
        image_alt=image.alt if image else None,
    )


def _feed_image(entry: dict[str, Any]) -> Image | None:
    """The entry's picture: a media:content or media:thumbnail image, else an image enclosure (http(s) only)."""
    media = [*(entry.get("media_content") or []), *(entry.get("media_thumbnail") or [])]
    candidates = [
        item.get("url")
        for item in media
        if item.get("medium", "image") == "image" and str(item.get("type", "image/")).startswith("image/")
    ]
    candidates += [
        item.get("href") for item in entry.get("enclosures") or [] if str(item.get("type", "")).startswith("image/")
    ]
    for candidate in candidates:
        try:
            return Image(check_image_url(candidate))
        except StoryRejected:
            continue  # a relative or non-http(s) one: try the next
    return None


def _plain(markup: str) -> str:
    """A feed title (HTML-escaped, sometimes with tags) as one line of text."""
    return " ".join(BeautifulSoup(markup, "html.parser").get_text(" ").split())
