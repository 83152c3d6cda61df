"""The weekly digest: each weekly-cadence reader gets the week's stories for the topics they follow, once.

Planning (:func:`queue_weekly_digests`) is one set-based ``INSERT ... SELECT`` that queues ``digest:<ISO week>``
for every active weekly address whose topics had at least one story that week, so nobody gets an empty digest and
the unique key (item, subscriber, channel) makes a rerun queue nothing new. The delivery worker then asks
:class:`DigestMessages` for each message, like it asks `StoryMessages` for stories.

A week is Monday 00:00 to the next Monday 00:00 in ``NEWSBOT_DIGEST_TIMEZONE``; a story belongs to the week in
which newsbot stored it (so every story lands in exactly one digest, whatever its ``published`` date says).

Rendering is shared: readers whose followed topics select the same stories get the same digest, so the MJML is
compiled once per distinct set of followed topics that had stories that week, and per reader only the personal
links change. A Telegram digest longer than one message (4096 UTF-16 units) is split between stories into several
messages, sent in order as one delivery; if a later part fails temporarily the whole delivery is retried, which
can repeat the earlier parts (the same bounded duplicate window as a worker crash).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from bot.app.config import WEEKDAYS, Settings
from bot.app.errors import NewsbotError, RenderError
from bot.app.newsroom import Newsroom
from bot.channels import OutgoingMessage
from bot.rendering.email_message import EmailTemplate
from bot.rendering.renderer import TELEGRAM_MAX_LENGTH
from bot.stories.summarising import shorten
from bot.topics.taxonomy import Taxonomy, Topic
from subscribers import queries
from subscribers.schema import ChannelName

TELEGRAM_DIGEST_TEMPLATE = "telegram/digest.html.j2"
_ISO_WEEK = re.compile(r"\s*(\d{4})-?W(\d{1,2})\s*", re.IGNORECASE)
_BLOCK_BREAK = re.compile(r"\n\s*\n")
_HEADLINE_CHARS = 300


class InvalidWeek(NewsbotError):
    """A week that is malformed, does not exist, or is not over yet."""


@dataclass(frozen=True, slots=True)
class DigestWeek:
    """An ISO week and its bounds in UTC (Monday 00:00 to Monday 00:00 in the digest time zone)."""

    key: str
    start: datetime
    end: datetime
    zone: tzinfo

    @property
    def label(self) -> str:
        """E.g. "November 23 – 29, 2026" (in the digest time zone)."""
        first = self.start.astimezone(self.zone)
        last = (self.end - timedelta(seconds=1)).astimezone(self.zone)
        if first.month == last.month:
            return f"{first:%B} {first.day} – {last.day}, {last.year}"
        if first.year == last.year:
            return f"{first:%B} {first.day} – {last:%B} {last.day}, {last.year}"
        return f"{first:%B} {first.day}, {first.year} – {last:%B} {last.day}, {last.year}"


def digest_zone(settings: Settings) -> tzinfo:
    """The configured digest time zone (UTC works even on a machine without the tz database)."""
    return UTC if settings.digest_timezone == "UTC" else ZoneInfo(settings.digest_timezone)


def digest_schedule(settings: Settings) -> tuple[dt.time, tuple[int, ...]]:
    """``(time, days)`` for PTB's ``JobQueue.run_daily``: the local time with its zone, and the weekday (0 = Sunday).

    ``job_queue.run_daily(callback, *digest_schedule(settings))`` queues the digest every week as configured.
    """
    monday_first = WEEKDAYS.index(settings.digest_weekday)
    return settings.digest_time.replace(tzinfo=digest_zone(settings)), ((monday_first + 1) % 7,)


def _week_starting(monday: dt.date, zone: tzinfo) -> DigestWeek:
    start = datetime.combine(monday, dt.time(), tzinfo=zone)
    end = datetime.combine(monday + timedelta(days=7), dt.time(), tzinfo=zone)
    year, week, _ = monday.isocalendar()
    return DigestWeek(f"{year}-W{week:02d}", start.astimezone(UTC), end.astimezone(UTC), zone)


def parse_week(text: str, zone: tzinfo) -> DigestWeek:
    """``2026-W48`` (ISO 8601 week) as a DigestWeek; InvalidWeek for anything else."""
    match = _ISO_WEEK.fullmatch(text)
    if match is None:
        raise InvalidWeek(f"invalid week {text!r}: expected an ISO week such as 2026-W48")
    try:
        monday = dt.date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise InvalidWeek(f"invalid week {text!r}: {match[1]} has no week {int(match[2])}") from None
    return _week_starting(monday, zone)


def week_of(moment: datetime, zone: tzinfo) -> DigestWeek:
    """The ISO week that contains *moment* in *zone*."""
    local = moment.astimezone(zone).date()
    return _week_starting(local - timedelta(days=local.weekday()), zone)


def last_complete_week(now: datetime, zone: tzinfo) -> DigestWeek:
    """The week a digest sent at *now* covers: the last one that has ended."""
    current = week_of(now, zone)
    return week_of(current.start - timedelta(seconds=1), zone)


@dataclass
class DigestReport:
    """What planning one week's digest did (or, on a dry run, would do)."""

    week: str
    label: str
    stories: int
    #: Digests newly queued per channel; on a dry run, those that would be.
    queued: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    @property
    def total(self) -> int:
        return sum(self.queued.values())


async def queue_weekly_digests(newsroom: Newsroom, week: str | None = None, *, dry_run: bool = False) -> DigestReport:
    """Queue the digest of *week* (default: the last complete week) for every weekly reader with news in it.

    Returns per channel how many digests were queued; a rerun queues nothing new. The delivery worker sends them
    (wake it, or run ``newsbot deliver``). Raises InvalidWeek for a malformed week or one that is not over yet.
    """
    zone = digest_zone(newsroom.settings)
    now = datetime.now(UTC)
    target = parse_week(week, zone) if week else last_complete_week(now, zone)
    if target.end > now:
        opens = target.end.astimezone(zone)
        raise InvalidWeek(f"{target.key} is not over yet; its digest can be sent from {opens:%A %Y-%m-%d %H:%M %Z}")
    if dry_run:
        async with newsroom.reader.connect() as conn:
            stories = await queries.load_week_stories(conn, target.start, target.end)
            queued = await queries.count_digest_audience(conn, target.key, target.start, target.end)
        return DigestReport(target.key, target.label, len(stories), queued, dry_run=True)
    async with newsroom.engine.begin() as conn:
        stories = await queries.load_week_stories(conn, target.start, target.end)
        queued = await queries.count_digest_audience(conn, target.key, target.start, target.end)
        await queries.plan_digest_deliveries(conn, target.key, target.start, target.end, now)
    return DigestReport(target.key, target.label, len(stories), queued)


# --- Rendering ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DigestEntry:
    headline: str
    summary: str
    url: str | None
    breaking: bool


@dataclass(frozen=True, slots=True)
class DigestGroup:
    topic: Topic
    stories: tuple[DigestEntry, ...]


@dataclass(frozen=True, slots=True)
class DigestContent:
    """One reader's digest before rendering: groups in taxonomy order, each story once, newest first."""

    groups: tuple[DigestGroup, ...]
    top: DigestEntry
    count: int


def _entry(story: queries.DigestStory) -> DigestEntry:
    url = story.url.strip() if story.url else None
    safe_url = url if url and re.match(r"https?://[^\s]+\Z", url) else None
    return DigestEntry(
        headline=shorten(" ".join(story.title.split()), _HEADLINE_CHARS),
        summary=" ".join(story.summary.split()),
        url=safe_url,
        breaking=story.breaking,
    )


def digest_content(
    stories: Iterable[queries.DigestStory], followed: frozenset[str], taxonomy: Taxonomy
) -> DigestContent | None:
    """Group the week's stories (newest first) by the first of their topics the reader follows; None if none.

    A story in several followed topics appears once, under the first of them in the story's own topic order.
    The top story is the newest breaking story, else the newest story.
    """
    grouped: dict[str, list[queries.DigestStory]] = {}
    for story in stories:
        topic = next((slug for slug in story.topics if slug in followed), None)
        if topic is not None:
            grouped.setdefault(topic, []).append(story)
    if not grouped:
        return None
    order = {slug: index for index, slug in enumerate(taxonomy.slugs)}
    groups = tuple(
        DigestGroup(
            taxonomy[slug] if slug in taxonomy else Topic(slug=slug, name=slug),
            tuple(_entry(story) for story in grouped[slug]),
        )
        for slug in sorted(grouped, key=lambda slug: (order.get(slug, len(order)), slug))
    )
    picked = sorted((story for members in grouped.values() for story in members), key=lambda s: s.created_at)
    top = next((story for story in reversed(picked) if story.breaking), picked[-1])
    return DigestContent(groups=groups, top=_entry(top), count=len(picked))


def _telegram_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_telegram_message(text: str, limit: int = TELEGRAM_MAX_LENGTH) -> list[str]:
    """Pack the blank-line-separated blocks of *text* into as few messages of at most *limit* as possible.

    Templates keep every tag within one block, so a split never cuts a tag or an entity in half.
    """
    parts: list[str] = []
    current = ""
    for block in (b.strip() for b in _BLOCK_BREAK.split(text)):
        if not block:
            continue
        candidate = f"{current}\n\n{block}" if current else block
        if _telegram_length(candidate) <= limit:
            current = candidate
            continue
        if _telegram_length(block) > limit:
            raise RenderError(f"{TELEGRAM_DIGEST_TEMPLATE} renders a block longer than {limit} characters")
        parts.append(current)
        current = block
    if current:
        parts.append(current)
    return parts


@dataclass(frozen=True, slots=True)
class _LoadedWeek:
    week: DigestWeek
    stories: list[queries.DigestStory]
    topics: frozenset[str]


class DigestMessages:
    """Digest messages (``digest:<ISO week>``), rendered once per week and set of topics with stories."""

    prefix = "digest"

    def __init__(self, newsroom: Newsroom, capacity: int = 256) -> None:
        self._newsroom = newsroom
        self._capacity = capacity
        self._weeks: OrderedDict[str, _LoadedWeek] = OrderedDict()
        self._week_lock = asyncio.Lock()
        self._emails: OrderedDict[tuple[str, frozenset[str]], EmailTemplate] = OrderedDict()
        self._telegram: OrderedDict[tuple[str, frozenset[str]], tuple[str, ...]] = OrderedDict()
        self._contents: OrderedDict[tuple[str, frozenset[str]], DigestContent] = OrderedDict()
        #: Followed topics of the readers in the batch being sent, loaded in one query by `prepare`.
        self._batch_follows: dict[int, frozenset[str]] = {}

    async def prepare(self, items: Sequence[queries.ClaimedDelivery]) -> None:
        """Before a batch: load its weeks and its readers' topics in one query, not one query per reader."""
        for week_key in {item.item_key.partition(":")[2] for item in items}:
            with contextlib.suppress(InvalidWeek):
                await self._load_week(week_key)
        async with self._newsroom.reader.connect() as conn:
            self._batch_follows = await queries.followed_topics_of(conn, {item.subscriber_id for item in items})

    async def _load_week(self, key: str) -> _LoadedWeek:
        async with self._week_lock:  # a batch asks for the same week many times at once: load it once
            loaded = self._weeks.get(key)
            if loaded is None:
                week = parse_week(key, digest_zone(self._newsroom.settings))
                async with self._newsroom.reader.connect() as conn:
                    stories = await queries.load_week_stories(conn, week.start, week.end)
                loaded = _LoadedWeek(week, stories, frozenset(t for s in stories for t in s.topics))
                self._weeks[key] = loaded
                if len(self._weeks) > 4:
                    self._weeks.popitem(last=False)
            return loaded

    def _context(self, loaded: _LoadedWeek, content: DigestContent) -> dict[str, Any]:
        return {
            "week": loaded.week.key,
            "week_label": loaded.week.label,
            "groups": content.groups,
            "top_story": content.top,
            "story_count": content.count,
            "more_count": content.count - 1,
            "outlet_name": self._newsroom.settings.outlet_name,
            "public_url": self._newsroom.settings.public_url,
        }

    def _cached(self, cache: OrderedDict[Any, Any], key: Any, build: Any) -> Any:
        value = cache.get(key)
        if value is None:
            value = cache[key] = build()
            if len(cache) > self._capacity:
                cache.popitem(last=False)
        else:
            cache.move_to_end(key)
        return value

    async def message_for(
        self, item: queries.ClaimedDelivery, key: str, address: str
    ) -> OutgoingMessage | tuple[OutgoingMessage, ...] | None:
        week_key = item.item_key.partition(":")[2]
        try:
            loaded = await self._load_week(week_key)
        except InvalidWeek:
            return None
        followed = self._batch_follows.get(item.subscriber_id)
        if followed is None:
            async with self._newsroom.reader.connect() as conn:
                followed = await queries.followed_topics(conn, item.subscriber_id)
        effective = followed & loaded.topics
        if not effective:
            return None  # they stopped following the week's topics since planning: no empty digest
        cache_key = (week_key, effective)
        if cache_key not in self._contents:
            content = digest_content(loaded.stories, effective, self._newsroom.taxonomy)
            assert content is not None  # effective topics all have stories this week
            self._cached(self._contents, cache_key, lambda: content)
        content = self._contents[cache_key]
        if item.channel == ChannelName.TELEGRAM:
            parts = self._cached(self._telegram, cache_key, lambda: self._telegram_parts(loaded, content))
            if len(parts) == 1:
                return OutgoingMessage(key=key, address=address, content=parts[0])
            return tuple(
                OutgoingMessage(key=f"{key}.{index}of{len(parts)}", address=address, content=part)
                for index, part in enumerate(parts, start=1)
            )
        template = self._cached(self._emails, cache_key, lambda: self._email(loaded, content))
        signer = self._newsroom.signer
        return OutgoingMessage(
            key=key,
            address=address,
            content=template.for_recipient(
                to=address,
                unsubscribe_url=signer.unsubscribe_url(item.subscriber_id),
                preferences_url=signer.preferences_url(item.subscriber_id),
            ),
        )

    def _email(self, loaded: _LoadedWeek, content: DigestContent) -> EmailTemplate:
        compiled = self._newsroom.renderer.compile_email_set("digest", self._context(loaded, content))
        return EmailTemplate(compiled, self._newsroom.settings)

    def _telegram_parts(self, loaded: _LoadedWeek, content: DigestContent) -> tuple[str, ...]:
        text = self._newsroom.renderer.render(TELEGRAM_DIGEST_TEMPLATE, self._context(loaded, content))
        return tuple(split_telegram_message(text))
