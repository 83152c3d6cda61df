"""The worker's message source for weekly digests (``digest:<ISO week>`` deliveries).

Rendering is shared: readers whose followed topics select the same stories get the same digest, so the MJML is
compiled once per distinct set of followed topics that had stories that week, and per reader only the personal
links change. A long Telegram digest comes as several messages (`bot.rendering.telegram_digest`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.app.newsroom import Newsroom
from bot.channels import OutgoingMessage
from bot.outbox.digest_grouping import DigestContent, digest_content
from bot.outbox.digest_weeks import DigestWeek, InvalidWeek, digest_zone, parse_week
from bot.outbox.message_cache import LruCache
from bot.rendering.email_message import EmailTemplate
from bot.rendering.telegram_digest import TELEGRAM_DIGEST_TEMPLATE, split_telegram_message
from subscribers import deliveries, follows
from subscribers import stories as stories_store
from subscribers.schema import ChannelName


@dataclass(frozen=True, slots=True)
class _LoadedWeek:
    week: DigestWeek
    stories: list[stories_store.DigestStory]
    topics: frozenset[str]


class DigestMessages:
    """Digest messages (``digest:<ISO week>``), rendered once per week and set of topics with stories."""

    prefix = "digest"

    def __init__(self, newsroom: Newsroom, capacity: int = 256) -> None:
        self._newsroom = newsroom
        self._weeks: LruCache[str, _LoadedWeek] = LruCache(4)
        self._week_lock = asyncio.Lock()
        self._emails: LruCache[tuple[str, frozenset[str]], EmailTemplate] = LruCache(capacity)
        self._telegram: LruCache[tuple[str, frozenset[str]], tuple[str, ...]] = LruCache(capacity)
        self._contents: LruCache[tuple[str, frozenset[str]], DigestContent] = LruCache(capacity)
        #: Followed topics of the readers in the batch being sent, loaded in one query by `prepare`.
        self._batch_follows: dict[int, frozenset[str]] = {}

    async def prepare(self, items: Sequence[deliveries.ClaimedDelivery]) -> None:
        """Before a batch: load its weeks and its readers' topics in one query, not one query per reader."""
        for week_key in {item.item_key.partition(":")[2] for item in items}:
            with contextlib.suppress(InvalidWeek):
                await self._load_week(week_key)
        async with self._newsroom.reader.connect() as conn:
            self._batch_follows = await follows.followed_topics_of(conn, {item.subscriber_id for item in items})

    async def _load_week(self, key: str) -> _LoadedWeek:
        async with self._week_lock:  # a batch asks for the same week many times at once: load it once
            loaded = self._weeks.get(key)
            if loaded is None:
                week = parse_week(key, digest_zone(self._newsroom.settings))
                async with self._newsroom.reader.connect() as conn:
                    stories = await stories_store.load_week_stories(conn, week.start, week.end)
                topics = frozenset(topic for story in stories for topic in story.topics)
                loaded = self._weeks.put(key, _LoadedWeek(week, stories, topics))
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

    async def message_for(
        self, item: deliveries.ClaimedDelivery, key: str, address: str
    ) -> OutgoingMessage | tuple[OutgoingMessage, ...] | None:
        week_key = item.item_key.partition(":")[2]
        try:
            loaded = await self._load_week(week_key)
        except InvalidWeek:
            return None
        followed = self._batch_follows.get(item.subscriber_id)
        if followed is None:
            async with self._newsroom.reader.connect() as conn:
                followed = await follows.followed_topics(conn, item.subscriber_id)
        effective = followed & loaded.topics
        if not effective:
            return None  # they stopped following the week's topics since planning: no empty digest
        cache_key = (week_key, effective)
        content = self._contents.get_or_build(cache_key, lambda: self._content(loaded, effective))
        if item.channel == ChannelName.TELEGRAM:
            parts = self._telegram.get_or_build(cache_key, lambda: self._telegram_parts(loaded, content))
            if len(parts) == 1:
                return OutgoingMessage(key=key, address=address, content=parts[0])
            return tuple(
                OutgoingMessage(key=f"{key}.{index}of{len(parts)}", address=address, content=part)
                for index, part in enumerate(parts, start=1)
            )
        template = self._emails.get_or_build(cache_key, lambda: self._email(loaded, content))
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

    def _content(self, loaded: _LoadedWeek, topics: frozenset[str]) -> DigestContent:
        content = digest_content(loaded.stories, topics, self._newsroom.taxonomy)
        assert content is not None  # the reader's topics here all have stories this week
        return content

    def _telegram_parts(self, loaded: _LoadedWeek, content: DigestContent) -> tuple[str, ...]:
        text = self._newsroom.renderer.render(TELEGRAM_DIGEST_TEMPLATE, self._context(loaded, content))
        return tuple(split_telegram_message(text))
