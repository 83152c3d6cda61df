"""The worker's message source for weekly digests (``digest:<ISO week>`` deliveries).

Each reader's digest covers their own local week (`bot.outbox.digest_planning`). Rendering is shared: readers
whose weeks have the same bounds, whose followed topics and story languages select the same stories (and who
already had the same of them at once), and who read the same language, get the same digest, so the MJML is
compiled once per distinct content and language, and per reader only the personal links change. A long Telegram
digest comes as several messages (`bot.rendering.telegram_digest`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import datetime, tzinfo

from bot.app.newsroom import Newsroom
from bot.channels import OutgoingMessage
from bot.channels.base import LinkPreview
from bot.languages.catalogs import language_of
from bot.outbox.digest_grouping import DigestContent
from bot.outbox.digest_rendering import (
    WeekStories,
    email_template,
    load_week_stories,
    reader_content,
    sent_on_labels,
    telegram_parts,
)
from bot.outbox.digest_weeks import InvalidWeek, parse_week
from bot.outbox.message_cache import LruCache
from bot.outbox.reader_hours import zone_of
from bot.rendering.email_message import EmailTemplate
from subscribers import deliveries, digest_reach, follows, reader_languages, reader_time, story_language_filters
from subscribers.schema import ChannelName

#: What makes two readers' digests the same: the week and its bounds, the followed topics with stories, what they
#: already had, the language they read and the story languages they chose.
_WeekKey = tuple[str, datetime, datetime]
_ContentKey = tuple[_WeekKey, frozenset[str], frozenset[tuple[str, str]], str, frozenset[str]]
_NO_PREVIEW = LinkPreview(url=None)
#: A reader's followed topics, the week's stories they got at once (with the weekday shown), their language, and
#: the story languages they chose (empty: all).
_ReaderState = tuple[frozenset[str], dict[str, str], str, frozenset[str]]


class DigestMessages:
    """Digest messages (``digest:<ISO week>``), rendered once per week and distinct reader content."""

    prefix = "digest"

    def __init__(self, newsroom: Newsroom, capacity: int = 256) -> None:
        self._newsroom = newsroom
        #: A week's stories per distinct local week (the readers' zones give a few bounds per ISO week).
        self._weeks: LruCache[_WeekKey, WeekStories] = LruCache(64)
        #: A week as readers who chose some story languages get it, by week and choice, with the week it came from.
        self._weeks_in: LruCache[tuple[_WeekKey, frozenset[str]], tuple[WeekStories, WeekStories]] = LruCache(64)
        self._week_lock = asyncio.Lock()
        self._emails: LruCache[_ContentKey, EmailTemplate] = LruCache(capacity)
        self._telegram: LruCache[_ContentKey, tuple[str, ...]] = LruCache(capacity)
        self._contents: LruCache[_ContentKey, DigestContent] = LruCache(capacity)
        #: What each claimed digest delivery needs of its reader (followed topics, the week's stories they already
        #: got at once with their weekday, their language), loaded by `prepare` for a whole batch and taken once by
        #: `message_for`. Keyed by delivery, not reader: the worker prepares each channel's batch on its own and
        #: the next batch while this one is still going out, so a batch must not replace another's state.
        self._prepared: dict[tuple[str, str, int], tuple[WeekStories, _ReaderState]] = {}

    async def prepare(self, items: Sequence[deliveries.ClaimedDelivery]) -> None:
        """Before a batch: load its weeks, its readers' topics and what they already got, not one query per reader."""
        subscriber_ids = {item.subscriber_id for item in items}
        async with self._newsroom.reader.connect() as conn:
            followed = await follows.followed_topics_of(conn, subscriber_ids)
            stored = await reader_languages.languages_of(conn, subscriber_ids)
            zone_names = await reader_time.reader_zones(conn, list(subscriber_ids))
            chosen = await story_language_filters.story_languages_of_readers(conn, subscriber_ids)
        languages = {subscriber_id: self._language(stored.get(subscriber_id)) for subscriber_id in subscriber_ids}
        zones = {subscriber_id: self._zone(zone_names.get(subscriber_id)) for subscriber_id in subscriber_ids}
        weeks: dict[tuple[str, str | None], WeekStories] = {}
        by_week: dict[_WeekKey, tuple[WeekStories, set[int]]] = {}
        for item in items:
            week_key = item.item_key.partition(":")[2]
            zone_key = (week_key, zone_names.get(item.subscriber_id))
            with contextlib.suppress(InvalidWeek):
                if zone_key not in weeks:
                    weeks[zone_key] = await self._load_week(week_key, zones[item.subscriber_id])
                loaded = weeks[zone_key]
                by_week.setdefault(_bounds(loaded), (loaded, set()))[1].add(item.subscriber_id)
        states: dict[tuple[str, int], tuple[WeekStories, _ReaderState]] = {}
        for (week_key, _, _), (loaded, readers) in by_week.items():
            async with self._newsroom.reader.connect() as conn:
                sent = await digest_reach.stories_sent_at_once(conn, readers, loaded.week.start, loaded.week.end)
            for subscriber_id, sent_at in sent.items():
                labels = sent_on_labels(sent_at, loaded.week, languages[subscriber_id], zones[subscriber_id])
                state = (
                    followed.get(subscriber_id, frozenset()),
                    labels,
                    languages[subscriber_id],
                    chosen.get(subscriber_id, frozenset()),
                )
                states[(week_key, subscriber_id)] = (loaded, state)
        for item in items:
            week_key = item.item_key.partition(":")[2]
            found = states.get((week_key, item.subscriber_id))
            if found is not None:
                self._prepared[(item.channel, week_key, item.subscriber_id)] = found

    async def _load_week(self, key: str, zone: tzinfo) -> WeekStories:
        week = parse_week(key, zone)
        bounds = (key, week.start, week.end)
        async with self._week_lock:  # a batch asks for the same week many times at once: load it once
            loaded = self._weeks.get(bounds)
            if loaded is None:
                loaded = self._weeks.put(bounds, await load_week_stories(self._newsroom, week))
            return loaded

    def _in_languages(self, loaded: WeekStories, chosen: frozenset[str]) -> WeekStories:
        """The week's stories in *chosen* languages, worked out once per week (as loaded now) and choice."""
        key = (_bounds(loaded), chosen)
        cached = self._weeks_in.get(key)
        if cached is None or cached[0] is not loaded:
            cached = self._weeks_in.put(key, (loaded, loaded.in_languages(chosen)))
        return cached[1]

    def _zone(self, name: str | None) -> tzinfo:
        return zone_of(name, self._newsroom.settings)

    def _language(self, stored: str | None) -> str:
        return language_of(stored, self._newsroom.settings.default_language)

    async def _reader_state(self, channel: str, week_key: str, subscriber_id: int) -> tuple[WeekStories, _ReaderState]:
        """The reader's local week and state; raises InvalidWeek for a key that is no week."""
        prepared = self._prepared.pop((channel, week_key, subscriber_id), None)
        if prepared is not None:
            return prepared
        # Not in a prepared batch: this reader alone.
        async with self._newsroom.reader.connect() as conn:
            zones = await reader_time.reader_zones(conn, [subscriber_id])
        zone = self._zone(zones.get(subscriber_id))
        loaded = await self._load_week(week_key, zone)
        async with self._newsroom.reader.connect() as conn:
            followed = await follows.followed_topics(conn, subscriber_id)
            sent = await digest_reach.stories_sent_at_once(conn, [subscriber_id], loaded.week.start, loaded.week.end)
            language = self._language(await reader_languages.language_of(conn, subscriber_id))
            chosen = await story_language_filters.story_languages_of(conn, subscriber_id)
        sent_on = sent_on_labels(sent[subscriber_id], loaded.week, language, zone)
        return loaded, (followed, sent_on, language, chosen)

    async def message_for(
        self, item: deliveries.ClaimedDelivery, key: str, address: str
    ) -> OutgoingMessage | tuple[OutgoingMessage, ...] | None:
        week_key = item.item_key.partition(":")[2]
        try:
            loaded, state = await self._reader_state(item.channel, week_key, item.subscriber_id)
        except InvalidWeek:
            return None
        followed, sent_on, language, chosen = state
        if chosen:  # only the stories in the languages they chose
            loaded = self._in_languages(loaded, chosen)
        effective = followed & loaded.topics
        if not effective:
            return None  # they stopped following the week's topics since planning: no empty digest
        sent_on = loaded.reached(sent_on, effective)
        cache_key: _ContentKey = (_bounds(loaded), effective, frozenset(sent_on.items()), language, chosen)
        content = self._contents.get_or_build(cache_key, lambda: self._content(loaded, effective, sent_on))
        if item.channel == ChannelName.TELEGRAM:
            parts = self._telegram.get_or_build(
                cache_key, lambda: telegram_parts(self._newsroom, loaded, content, language)
            )
            # Every headline is a link: a preview of whichever came first would be chance, so none, and no ring.
            if len(parts) == 1:
                return OutgoingMessage(key, address, parts[0], link_preview=_NO_PREVIEW, silent=True)
            return tuple(
                OutgoingMessage(f"{key}.{n}of{len(parts)}", address, part, link_preview=_NO_PREVIEW, silent=True)
                for n, part in enumerate(parts, start=1)
            )
        template = self._emails.get_or_build(
            cache_key, lambda: email_template(self._newsroom, loaded, content, language)
        )
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

    def _content(self, loaded: WeekStories, topics: frozenset[str], sent_on: dict[str, str]) -> DigestContent:
        content = reader_content(self._newsroom, loaded, topics, sent_on)
        assert content is not None  # the reader's topics here all have stories this week
        return content


def _bounds(loaded: WeekStories) -> _WeekKey:
    return (loaded.week.key, loaded.week.start, loaded.week.end)
