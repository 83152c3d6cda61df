"""Social distribution: each story also goes to the outlet's Telegram channels and to other networks via Apprise.

Which topic goes where is configuration, in the taxonomy file or in ``NEWSBOT_DISTRIBUTION_FILE`` (same shape)::

    [[topic]]
    slug = "north-korea"
    telegram_channels = ["@fairview_world"]            # the outlet's own channels; the bot must be an admin there
    apprise = ["mastodon://TOKEN@mastodon.social"]     # any Apprise URL: Mastodon, Discord, Slack, Matrix, ntfy...

When a story is ingested, :func:`queue_social_posts` queues one post per destination (idempotent per story and
destination, in the ``social_posts`` table). :class:`SocialPoster` sends them apart from subscriber delivery, so a
slow or failing network never holds up readers: each post is sent on its own, failures are retried with
exponential backoff, and after ``NEWSBOT_MAX_ATTEMPTS`` a post is marked failed. Each network gets a text within
its own length limit (Apprise knows them: 500 characters on Mastodon) that always keeps the story's link.

Apprise URLs carry credentials, so they are never stored or logged: the database only holds a destination key
such as ``apprise:mastodon:3f9c1e7a52b04d68`` (the service and a hash of the URL; ``subscribers.secret_names``,
whose rule also names feeds behind a login).
"""

from __future__ import annotations

import asyncio
import logging
import random
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import apprise
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.app.config import Settings
from bot.app.errors import ConfigurationError, TopicNotFound
from bot.app.newsroom import Newsroom
from bot.channels import Channel, DeliveryFailed, OutgoingMessage, PermanentFailure, TemporaryFailure
from bot.stories.story import Story
from bot.stories.summarising import shorten
from bot.topics.taxonomy import DEFAULT_TOPICS_FILE, Taxonomy, Topic
from subscribers import queries
from subscribers.schema import DeliveryStatus
from subscribers.secret_names import secret_free_name

log = logging.getLogger(__name__)

#: A summary squeezed below this many characters is dropped rather than posted as a stub.
MIN_SUMMARY_CHARS = 40
#: First retry after this long, doubling per attempt, capped at RETRY_CAP.
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=1)
#: Longest a single post may take before it counts as a temporary failure.
POST_TIMEOUT = 60.0
#: A post still 'sending' this long after it was claimed outlived its poster (a batch ends within POST_TIMEOUT).
ABANDONED_AFTER = timedelta(seconds=2 * POST_TIMEOUT)


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a post goes. ``key`` is stored with the post; ``target`` may hold credentials and is never stored."""

    key: str
    kind: Literal["telegram", "apprise"]
    target: str
    #: A readable, secret-free name for logs and previews.
    label: str
    body_limit: int = 4096
    title_limit: int = 0


class Distribution:
    """Topics mapped to destinations, read once from the taxonomy or distribution file."""

    def __init__(self, by_topic: dict[str, tuple[Destination, ...]]) -> None:
        self.by_topic = by_topic
        self.destinations: dict[str, Destination] = {d.key: d for ds in by_topic.values() for d in ds}

    @classmethod
    def load(cls, settings: Settings, taxonomy: Taxonomy) -> Distribution:
        """Read ``NEWSBOT_DISTRIBUTION_FILE``, else the extra keys of the topics file; refuse unknown topics."""
        path = settings.distribution_file or settings.topics_file or DEFAULT_TOPICS_FILE
        return cls.from_toml(path, taxonomy)

    @classmethod
    def from_toml(cls, path: Path, taxonomy: Taxonomy) -> Distribution:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(f"cannot read distribution file {path}: {exc}") from None
        entries = data.get("topic", [])
        if not isinstance(entries, list):
            raise ConfigurationError(f"{path}: topics must be written as [[topic]] tables, not [topic]")
        by_topic: dict[str, list[Destination]] = {}
        for index, entry in enumerate(entries, start=1):
            channels, urls = entry.get("telegram_channels", []), entry.get("apprise", [])
            if not channels and not urls:
                continue
            where = f"{path}: topic #{index}"
            try:
                slug = taxonomy.resolve(str(entry.get("slug", ""))).slug
            except TopicNotFound as exc:
                raise ConfigurationError(f"{where}: {exc}") from None
            found = by_topic.setdefault(slug, [])
            found.extend(telegram_destination(channel, where) for channel in _strings(channels, where))
            found.extend(apprise_destination(url, where) for url in _strings(urls, where))
        return cls({slug: tuple(dict.fromkeys(ds)) for slug, ds in by_topic.items()})

    def for_story(self, story: Story) -> list[Destination]:
        """Every destination of any of the story's topics, once each, in topic order."""
        chosen = (d for topic in story.topics for d in self.by_topic.get(topic, ()))
        return list(dict.fromkeys(chosen))

    def __bool__(self) -> bool:
        return bool(self.destinations)


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise ConfigurationError(f"{where}: telegram_channels and apprise must be lists of strings")
    return [item.strip() for item in value]


def telegram_destination(channel: str, where: str = "distribution") -> Destination:
    """An outlet channel by @username or numeric chat id (e.g. -1001234567890)."""
    name = channel.strip()
    if not (name.startswith("@") and len(name) > 1) and not name.lstrip("-").isdigit():
        raise ConfigurationError(f"{where}: Telegram channel {name!r} must be @username or a numeric chat id")
    return Destination(key=f"telegram:{name}", kind="telegram", target=name, label=f"Telegram {name}")


def apprise_destination(url: str, where: str = "distribution") -> Destination:
    """An Apprise URL, checked now so that a typo stops start-up instead of failing every post."""
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        scheme = url.split("://", 1)[0] if "://" in url else url[:10]
        raise ConfigurationError(f"{where}: {scheme}:// URL is not one Apprise understands")
    service = url.split("://", 1)[0].lower()
    return Destination(
        key=secret_free_name("apprise", service, url),
        kind="apprise",
        target=url,
        label=plugin.url(privacy=True).split("?", 1)[0],
        body_limit=int(plugin.body_maxlen or 4096),
        title_limit=int(plugin.title_maxlen or 0),
    )


# --- composing ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SocialText:
    title: str
    body: str


def compose_post(story: Story, topics: Iterable[Topic], *, body_limit: int, title_limit: int = 0) -> SocialText:
    """A post that fits the network: headline, as much summary as fits, the link (always kept), hashtags if room.

    Networks with a separate title field get the headline there; others (Mastodon) get it as the first line.
    """
    link = story.url or ""
    tags = " ".join(topic.hashtag for topic in topics if len(topic.hashtag) > 1)
    headline = " ".join(story.title.split())
    summary = " ".join(story.summary.split())
    title = shorten(headline, title_limit) if title_limit else ""
    lead = [] if title else [headline]
    for tail in ([link, tags], [link]):
        fixed = [part for part in (*lead, *tail) if part]
        room = body_limit - len("\n\n".join(fixed)) - (2 if fixed else 0)
        if room >= MIN_SUMMARY_CHARS or (room >= len(summary) and summary):
            body = "\n\n".join(part for part in (*lead, shorten(summary, room), *tail) if part)
            return SocialText(title, body)
    if link:
        room = body_limit - len(link) - 2
        return SocialText(title, "\n\n".join(part for part in (shorten(headline, room), link) if part))
    return SocialText(title, shorten(headline, body_limit))


# --- queuing -----------------------------------------------------------------------------------------------


async def queue_social_posts(conn: AsyncConnection, distribution: Distribution, story: Story, now: datetime) -> int:
    """Queue the story for each destination of its topics; queuing twice adds nothing. Returns posts queued."""
    keys = [destination.key for destination in distribution.for_story(story)]
    return await queries.queue_social_posts(conn, story.id, keys, now)


# --- sending -----------------------------------------------------------------------------------------------


@dataclass
class PostingReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    cancelled: int = 0


Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def retry_delay(attempts: int, retry_after: float | None = None) -> timedelta:
    """Exponential backoff with jitter after *attempts* tries, or exactly what the network asked for."""
    if retry_after is not None:
        return timedelta(seconds=retry_after)
    delay = min(RETRY_BASE * (2 ** max(attempts - 1, 0)), RETRY_CAP)
    return delay * random.uniform(0.8, 1.2)


class SocialPoster:
    """Sends queued social posts: Telegram channels through the Telegram channel, the rest through Apprise.

    Runs beside the delivery worker (``run``), or once over what is due (``drain``, used by tests and the CLI).
    Like the worker, one poster per store: on start it returns posts a dead poster left in "sending" to the queue.
    ``clock`` is injectable so retries can be exercised without waiting.
    """

    def __init__(
        self,
        newsroom: Newsroom,
        telegram: Channel,
        distribution: Distribution | None = None,
        *,
        batch_size: int = 20,
        clock: Clock = _utc_now,
    ) -> None:
        self.newsroom = newsroom
        self.telegram = telegram
        self.distribution = distribution or Distribution.load(newsroom.settings, newsroom.taxonomy)
        self.batch_size = batch_size
        self.clock = clock
        self.max_attempts = newsroom.settings.max_attempts
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """A post was queued: a sleeping :meth:`run` looks now rather than at its next poll."""
        self._wake.set()

    async def run_batch(self) -> PostingReport:
        """Claim due posts, send them concurrently (each bounded by a timeout), record each outcome."""
        report = PostingReport()
        now = self.clock()
        async with self.newsroom.engine.begin() as conn:
            await queries.requeue_abandoned_social_posts(conn, now, now - ABANDONED_AFTER)
            claimed = await queries.claim_due_social_posts(conn, self.batch_size, now)
        if claimed:
            await asyncio.gather(*(self._post(item, report) for item in claimed))
        return report

    async def drain(self) -> PostingReport:
        """Send everything due now; posts waiting for a later retry stay queued."""
        total = PostingReport()
        while True:
            report = await self.run_batch()
            done = report.sent + report.retrying + report.failed + report.cancelled
            if not done:
                return total
            total.sent += report.sent
            total.retrying += report.retrying
            total.failed += report.failed
            total.cancelled += report.cancelled

    async def run(self, stop: asyncio.Event, *, poll_interval: float = 5.0) -> None:
        """Post until *stop* is set, sleeping until the next retry, a :meth:`wake` or *poll_interval*."""
        while not stop.is_set():
            report = await self.run_batch()
            if report.sent + report.retrying + report.failed + report.cancelled:
                continue
            self._wake.clear()
            async with self.newsroom.reader.connect() as conn:
                next_due = await queries.next_social_retry_time(conn)
            timeout = poll_interval
            if next_due is not None:
                timeout = min(poll_interval, max(0.0, (next_due - self.clock()).total_seconds()))
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            try:
                await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()

    async def _post(self, item: queries.ClaimedSocialPost, report: PostingReport) -> None:
        destination = self.distribution.destinations.get(item.destination)
        async with self.newsroom.reader.connect() as conn:
            story = await queries.load_story(conn, item.story_id, Story)
        status, error, provider_id, retry_at = DeliveryStatus.SENT, None, None, None
        if destination is None or story is None:
            status, error = DeliveryStatus.CANCELLED, "destination no longer configured" if story else "story gone"
        else:
            try:
                provider_id = await asyncio.wait_for(self._send(item, destination, story), POST_TIMEOUT)
            except (TimeoutError, DeliveryFailed) as exc:
                failure = exc if isinstance(exc, DeliveryFailed) else TemporaryFailure("timed out")
                error = f"{destination.label}: {failure.reason}"
                attempts = item.attempts + 1
                if isinstance(failure, TemporaryFailure) and attempts < self.max_attempts:
                    status = DeliveryStatus.PENDING
                    retry_at = self.clock() + retry_delay(attempts, failure.retry_after)
                    log.warning("social post %s to %s failed, retrying: %s", item.id, destination.label, error)
                else:
                    status = DeliveryStatus.FAILED
                    log.error("social post %s to %s failed for good: %s", item.id, destination.label, error)
        async with self.newsroom.engine.begin() as conn:
            await queries.record_social_post(
                conn, item.id, status, self.clock(), error=error, provider_id=provider_id, retry_at=retry_at
            )
        if status is DeliveryStatus.SENT:
            report.sent += 1
        elif status is DeliveryStatus.PENDING:
            report.retrying += 1
        elif status is DeliveryStatus.FAILED:
            report.failed += 1
        else:
            report.cancelled += 1

    async def _send(self, item: queries.ClaimedSocialPost, destination: Destination, story: Story) -> str | None:
        if destination.kind == "telegram":
            html = self.newsroom.renderer.telegram_message(story)
            message = OutgoingMessage(key=f"social-{item.id}", address=destination.target, content=html)
            receipt = await self.telegram.send(message)
            return receipt.provider_id
        topics = [self.newsroom.taxonomy[slug] for slug in story.topics if slug in self.newsroom.taxonomy]
        text = compose_post(story, topics, body_limit=destination.body_limit, title_limit=destination.title_limit)
        await _notify(destination, text)
        return None


async def _notify(destination: Destination, text: SocialText) -> None:
    """One Apprise notification; its failure becomes a retryable TemporaryFailure with Apprise's own reason."""
    sender = apprise.Apprise()
    if not sender.add(destination.target):
        raise PermanentFailure("Apprise refused the URL")
    try:
        result = await sender.async_notify(body=text.body, title=text.title, body_format=apprise.NotifyFormat.TEXT)
    except Exception as exc:  # Apprise plugins may raise anything; the post is retried, not lost
        raise TemporaryFailure(f"apprise error: {exc}") from exc
    if not result:
        reasons = [entry.message for entry in getattr(result, "logs", list)() if entry.level in ("WARNING", "ERROR")]
        raise TemporaryFailure(reasons[-1][:300] if reasons else "apprise: the service refused the post")


__all__ = [
    "Destination",
    "Distribution",
    "PostingReport",
    "SocialPoster",
    "SocialText",
    "compose_post",
    "queue_social_posts",
]
