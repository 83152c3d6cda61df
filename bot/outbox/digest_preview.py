"""``newsbot digest --preview``: this week's digest so far, as one reader or one set of topics would get it.

It renders through the same code as the delivery worker (`bot.outbox.digest_rendering`), so an editor sees what
readers will get on Monday, and it writes nothing to the store: no delivery is queued, the current week included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.app.errors import NewsbotError, SubscriberNotFound
from bot.app.newsroom import Newsroom
from bot.outbox.digest_grouping import DigestContent
from bot.outbox.digest_rendering import (
    compile_email,
    load_week_stories,
    reader_content,
    sent_on_labels,
    telegram_parts,
)
from bot.outbox.digest_weeks import DigestWeek, digest_zone, parse_week, week_of
from bot.outbox.reader_hours import zone_of
from bot.rendering.renderer import PREFERENCES_URL_SENTINEL, UNSUBSCRIBE_URL_SENTINEL
from subscribers import digest_reach, follows, reader_time, readers
from subscribers.schema import ChannelName


class InvalidPreview(NewsbotError):
    """A preview asked for in a way that cannot be answered (both a reader and topics, an unknown channel)."""


@dataclass(frozen=True, slots=True)
class DigestPreview:
    """A rendered digest that was not queued: Telegram messages, or the path the email's HTML was written to."""

    week: DigestWeek
    channel: str
    #: Who it is for, e.g. "reader@example.org" or "topics local, sports".
    audience: str
    content: DigestContent | None
    telegram: tuple[str, ...] = ()
    email_path: Path | None = None


async def preview_digest(
    newsroom: Newsroom,
    *,
    week: str | None = None,
    topics: Sequence[str] = (),
    reader: str | None = None,
    channel: str = ChannelName.TELEGRAM.value,
    output: Path | None = None,
) -> DigestPreview:
    """Render *week*'s digest (default: the current week, so far) for *reader* or *topics* (default: all topics).

    *reader* is an email address or a Telegram chat id; their own local week, their followed topics and the stories
    they already got at once (days in their zone) are used, as on Monday; topics go by the outlet's week. The
    email goes to *output* (default: ``previews/digest-<week>.html`` in the data dir). Raises TopicNotFound,
    SubscriberNotFound or InvalidPreview for a bad request; queues nothing.
    """
    if channel not in (ChannelName.TELEGRAM.value, ChannelName.EMAIL.value):
        raise InvalidPreview(f"unknown channel {channel!r}: expected telegram or email")
    if reader and topics:
        raise InvalidPreview("give --reader or --topics, not both")
    subscriber_id = await _subscriber_of(newsroom, reader.strip()) if reader else None
    zone = digest_zone(newsroom.settings)
    if subscriber_id is not None:  # the reader's own week, and their days
        async with newsroom.reader.connect() as conn:
            stored = await reader_time.reader_zones(conn, [subscriber_id])
        zone = zone_of(stored.get(subscriber_id), newsroom.settings)
    target = parse_week(week, zone) if week else week_of(newsroom.clock.now(), zone)
    loaded = await load_week_stories(newsroom, target)
    sent_on: dict[str, str] = {}
    if subscriber_id is not None:
        followed, sent_on = await _reader_state(newsroom, subscriber_id, target)
        audience = (reader or "").strip()
    else:
        chosen = newsroom.taxonomy.resolve_all(topics) if topics else newsroom.taxonomy.slugs
        followed = frozenset(chosen)
        audience = "topics " + ", ".join(chosen) if topics else "all topics"
    content = reader_content(newsroom, loaded, followed & loaded.topics, loaded.reached(sent_on, followed))
    if content is None:
        return DigestPreview(target, channel, audience, None)
    if channel == ChannelName.TELEGRAM.value:
        return DigestPreview(target, channel, audience, content, telegram=telegram_parts(newsroom, loaded, content))
    compiled = compile_email(newsroom, loaded, content)
    html = compiled.html.replace(UNSUBSCRIBE_URL_SENTINEL, "#unsubscribe").replace(
        PREFERENCES_URL_SENTINEL, "#preferences"
    )
    path = output or newsroom.settings.data_dir / "previews" / f"digest-{target.key}.html"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise InvalidPreview(f"cannot write {path}: {exc.strerror or exc}") from None
    return DigestPreview(target, channel, audience, content, email_path=path)


async def _subscriber_of(newsroom: Newsroom, reader: str) -> int:
    channel = ChannelName.EMAIL.value if "@" in reader else ChannelName.TELEGRAM.value
    async with newsroom.reader.connect() as conn:
        found = await readers.find_subscriber_ids(conn, [(channel, reader)])
    subscriber_id = found.get((channel, reader))
    if subscriber_id is None:
        kind = "email address" if channel == ChannelName.EMAIL.value else "Telegram chat"
        raise SubscriberNotFound(f"no reader with the {kind} {reader!r}")
    return subscriber_id


async def _reader_state(
    newsroom: Newsroom, subscriber_id: int, week: DigestWeek
) -> tuple[frozenset[str], dict[str, str]]:
    """The reader's topics, and the days (in their zone, the week's) they already got some of its stories."""
    async with newsroom.reader.connect() as conn:
        followed = await follows.followed_topics(conn, subscriber_id)
        sent = await digest_reach.stories_sent_at_once(conn, [subscriber_id], week.start, week.end)
    return followed, sent_on_labels(sent[subscriber_id], week)
