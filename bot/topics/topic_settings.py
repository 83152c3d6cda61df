"""Topics and social destinations that admins change on the desk, seen by every process without a restart.

The files stay the defaults: until an admin changes something, the topics file and ``NEWSBOT_DISTRIBUTION_FILE``
are what every process uses, exactly as before. The first change copies both into the store
(:mod:`subscribers.topic_settings`), and from then on the store is what counts. Every change adds one to a version
counter; each process compares it with the version it loaded (:func:`refresh_topic_settings`, at start, after a
change it made itself, and every :data:`REFRESH_SECONDS` in ``newsbot run``), so the tagger, the Telegram
keyboards, the compose page and the social poster all follow within seconds.

Retiring a topic takes it off every list, keyboard and the tagger, and keeps its readers' follows, so restoring
it gives them their topic back; the desk says how many follow it before it asks. Every change is audited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.app.errors import ConfigurationError, NewsbotError
from bot.topics.distribution import Destination, Distribution, apprise_destination, telegram_destination
from bot.topics.taxonomy import Taxonomy, Topic
from subscribers import topic_settings as store
from subscribers.audit import add_audit_entry
from subscribers.topic_settings import DestinationRow, TopicRow

if TYPE_CHECKING:
    from bot.app.newsroom import Newsroom

log = logging.getLogger(__name__)

#: How often a process looks whether the desk changed topics or destinations (one small query).
REFRESH_SECONDS = 5.0


class TopicSettingProblem(NewsbotError):
    """A topic or destination the desk cannot take; *field* names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# -- reading -----------------------------------------------------------------------------------------------------


def destination_of(target: str) -> Destination:
    """An outlet channel (``@name`` or a numeric chat id) or any other target as an Apprise URL."""
    target = target.strip()
    if target.startswith("@") or target.lstrip("-").isdigit():
        return telegram_destination(target)
    return apprise_destination(target)


def taxonomy_of(rows: Iterable[TopicRow]) -> Taxonomy:
    return Taxonomy(Topic(r.slug, r.name, r.description, r.keywords, r.aliases) for r in rows if r.retired_at is None)


def distribution_of(rows: Iterable[DestinationRow], taxonomy: Taxonomy) -> Distribution:
    """The enabled destinations, for the topics still in *taxonomy* (a retired topic posts nowhere)."""
    by_topic: dict[str, list[Destination]] = {}
    for row in rows:
        if not row.enabled:
            continue
        try:
            destination = destination_of(row.target)
        except ConfigurationError as exc:  # e.g. an Apprise plugin no longer installed: skip it, keep the rest
            log.warning("social destination %s is left out: %s", row.key, exc)
            continue
        for slug in row.topics:
            if slug in taxonomy:
                by_topic.setdefault(slug, []).append(destination)
    return Distribution({slug: tuple(by_topic[slug]) for slug in taxonomy.slugs if slug in by_topic})


async def refresh_topic_settings(newsroom: Newsroom) -> bool:
    """Load the desk's topics and destinations if they changed since this process last looked; True if it did."""
    async with newsroom.reader.connect() as conn:
        version = await store.settings_version(conn)
        if version is None or version == newsroom.topic_settings_version:
            return False
        topics, destinations = await store.list_topics(conn), await store.list_destinations(conn)
    taxonomy = taxonomy_of(topics)
    newsroom.use_topic_settings(taxonomy, distribution_of(destinations, taxonomy), version)
    log.info("topics and social destinations: version %s from the desk (%d topics)", version, len(taxonomy))
    return True


async def refresh_loop(newsroom: Newsroom, stop: asyncio.Event) -> None:
    """Look for the desk's changes every :data:`REFRESH_SECONDS` until *stop*; a failed look is tried again."""
    while not stop.is_set():
        try:
            await refresh_topic_settings(newsroom)
        except Exception:
            log.exception("could not read the desk's topics; trying again")
        with contextlib.suppress(TimeoutError):  # a poll interval, as the feed and embargo loops wait
            await asyncio.wait_for(stop.wait(), timeout=REFRESH_SECONDS)


async def topic_rows(newsroom: Newsroom) -> list[TopicRow]:
    """Every topic with retired ones (none before the desk's first change: then the files' topics)."""
    async with newsroom.reader.connect() as conn:
        if await store.settings_version(conn) is not None:
            return await store.list_topics(conn)
    return _file_topics(newsroom)


async def destination_rows(newsroom: Newsroom) -> list[DestinationRow]:
    """Every destination, disabled ones too (before the desk's first change: the distribution file's)."""
    async with newsroom.reader.connect() as conn:
        if await store.settings_version(conn) is not None:
            return await store.list_destinations(conn)
    return [DestinationRow(0, key, target, tuple(slugs), True) for key, target, slugs in _file_destinations(newsroom)]


async def follower_count(newsroom: Newsroom, slug: str) -> int:
    async with newsroom.reader.connect() as conn:
        return await store.follower_count(conn, slug)


async def follower_counts(newsroom: Newsroom) -> dict[str, int]:
    async with newsroom.reader.connect() as conn:
        return await store.follower_counts(conn)


def _file_topics(newsroom: Newsroom) -> list[TopicRow]:
    return [TopicRow(t.slug, t.name, t.description, t.keywords, t.aliases) for t in newsroom.taxonomy]


def _file_destinations(newsroom: Newsroom) -> list[tuple[str, str, list[str]]]:
    distribution = newsroom.distribution
    return [
        (key, d.target, [slug for slug, ds in distribution.by_topic.items() if d in ds])
        for key, d in distribution.destinations.items()
    ]


# -- changing ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Change:
    """One change being made: its transaction, its time and who makes it."""

    conn: AsyncConnection
    at: datetime
    actor: str

    async def audit(self, action: str, subject: str, details: str | None = None) -> None:
        await add_audit_entry(self.conn, at=self.at, actor=self.actor, action=action, subject=subject, details=details)


@contextlib.asynccontextmanager
async def _changing(newsroom: Newsroom, actor: str) -> AsyncIterator[_Change]:
    """One audited change in one transaction: the files are copied in first if it is the desk's first, and the
    version moves on; this process uses the result at once. A TopicSettingProblem raised inside changes nothing."""
    async with newsroom.engine.begin() as conn:
        at = newsroom.clock.now()
        if await store.settings_version(conn) is None:
            await store.take_over(conn, _file_topics(newsroom), _file_destinations(newsroom), at)
        yield _Change(conn, at, actor)
        await store.bump_version(conn, at)
    await refresh_topic_settings(newsroom)


def _checked_taxonomy(rows: Sequence[TopicRow]) -> None:
    """Refuse topics the bot could not offer (a slug too long for a button, say) before they are stored."""
    from bot.readers.topic_keyboards import check_callback_data_fits  # python-telegram-bot: only when editing

    try:
        check_callback_data_fits(taxonomy_of(rows))
    except ConfigurationError as exc:
        raise TopicSettingProblem("slug", f"{exc}.") from None


async def add_topic(newsroom: Newsroom, topic: TopicRow, *, actor: str) -> None:
    """A new topic readers can follow at once; TopicSettingProblem when its slug or a name is taken."""
    async with _changing(newsroom, actor) as change:
        conn = change.conn
        rows = await store.list_topics(conn)
        if any(r.slug == topic.slug for r in rows):
            raise TopicSettingProblem("slug", f"there is already a topic {topic.slug!r} (retired ones count too).")
        _checked_taxonomy([*rows, topic])
        _check_names(rows, topic)
        await store.add_topic(conn, topic)
        await change.audit("topic added", topic.slug, topic.name)


async def edit_topic(newsroom: Newsroom, topic: TopicRow, *, actor: str) -> None:
    """New name, description and words for an existing topic (its slug, which follows point at, stays)."""
    async with _changing(newsroom, actor) as change:
        conn = change.conn
        old = await _existing(conn, topic.slug)
        _check_names(await store.list_topics(conn), topic)
        await store.update_topic(conn, replace(topic, retired_at=old.retired_at))
        await change.audit("topic changed", topic.slug, topic.name if topic.name != old.name else None)


async def retire_topic(newsroom: Newsroom, slug: str, *, actor: str) -> int:
    """Take a topic off every list, keyboard and the tagger, keeping its follows; how many readers follow it."""
    async with _changing(newsroom, actor) as change:
        conn = change.conn
        old = await _existing(conn, slug)
        live = [r for r in await store.list_topics(conn) if r.retired_at is None and r.slug != slug]
        if not live:
            raise TopicSettingProblem("slug", "this is the last topic: readers would have nothing to follow.")
        followers = await store.follower_count(conn, slug)
        if old.retired_at is None:
            await store.update_topic(conn, replace(old, retired_at=change.at))
            await change.audit("topic retired", slug, f"{followers} followers kept")
    return followers


async def restore_topic(newsroom: Newsroom, slug: str, *, actor: str) -> None:
    """Offer a retired topic again; its readers' kept follows count again at once."""
    async with _changing(newsroom, actor) as change:
        conn = change.conn
        old = await _existing(conn, slug)
        if old.retired_at is not None:
            await store.update_topic(conn, replace(old, retired_at=None))
            await change.audit("topic restored", slug)


async def _existing(conn: AsyncConnection, slug: str) -> TopicRow:
    found = next((row for row in await store.list_topics(conn) if row.slug == slug), None)
    if found is None:
        raise TopicSettingProblem("slug", f"there is no topic {slug!r}.")
    return found


def _check_names(rows: Iterable[TopicRow], topic: TopicRow) -> None:
    """A name or alias another topic already answers to would make "follow X" mean two topics."""
    taken = {
        word.casefold(): r.slug
        for r in rows
        if r.slug != topic.slug and r.retired_at is None
        for word in (r.slug, r.name, *r.aliases)
    }
    for field, words in (("name", [topic.name]), ("aliases", topic.aliases)):
        for word in words:
            if word.casefold() in taken:
                raise TopicSettingProblem(field, f"{word!r} already names the topic {taken[word.casefold()]!r}.")


async def add_destination(newsroom: Newsroom, target: str, topics: Sequence[str], *, actor: str) -> Destination:
    """Post stories of *topics* to *target* from now on; TopicSettingProblem naming the field when it cannot."""
    if not target.strip():
        raise TopicSettingProblem("target", "enter an Apprise URL (such as mastodon://TOKEN@host) or @channel.")
    try:
        destination = destination_of(target)
    except ConfigurationError as exc:
        raise TopicSettingProblem("target", str(exc).removeprefix("distribution: ") + ".") from None
    if not topics:
        raise TopicSettingProblem("topics", "tick at least one topic: its stories are what goes there.")
    async with _changing(newsroom, actor) as change:
        conn = change.conn
        if any(row.key == destination.key for row in await store.list_destinations(conn)):
            raise TopicSettingProblem("target", f"{destination.label} is already a destination.")
        await store.add_destination(conn, destination.key, destination.target, topics, change.at)
        await change.audit("social destination added", destination.key, ", ".join(topics))
    return destination


async def set_destination_enabled(newsroom: Newsroom, key: str, enabled: bool, *, actor: str) -> None:
    """Pause posting to a destination, or take it up again (its URL stays stored, so nobody types it again)."""
    async with _changing(newsroom, actor) as change:
        conn = change.conn
        await _destination(conn, key)
        await store.enable_destination(conn, key, enabled)
        await change.audit(f"social destination {'enabled' if enabled else 'disabled'}", key)


async def remove_destination(newsroom: Newsroom, key: str, *, actor: str) -> None:
    """Post there no more; posts still queued for it are cancelled by the poster ("no longer configured")."""
    async with _changing(newsroom, actor) as change:
        conn = change.conn
        await _destination(conn, key)
        await store.remove_destination(conn, key)
        await change.audit("social destination removed", key)


async def _destination(conn: AsyncConnection, key: str) -> None:
    if not any(row.key == key for row in await store.list_destinations(conn)):
        raise TopicSettingProblem("destination", f"there is no destination {key[:120]!r}; it may have been removed.")
