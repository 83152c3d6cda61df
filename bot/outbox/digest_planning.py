"""Planning the weekly digest: each weekly-cadence reader gets the week's stories for the topics they follow, once.

Planning (:func:`queue_weekly_digests`) is one set-based ``INSERT ... SELECT`` that queues ``digest:<ISO week>``
for every active weekly address whose topics had at least one story that week, so nobody gets an empty digest and
the unique key (item, subscriber, channel) makes a rerun queue nothing new. The delivery worker then asks
:class:`bot.outbox.digest_messages.DigestMessages` for each message, like it asks `StoryMessages` for stories.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.app.clock import Clock
from bot.app.newsroom import Newsroom
from bot.outbox.digest_weeks import InvalidWeek, digest_zone, last_complete_week, parse_week
from bot.outbox.reader_hours import fit_digest_to_readers
from subscribers import deliveries
from subscribers import stories as stories_store


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


async def queue_weekly_digests(
    newsroom: Newsroom, week: str | None = None, *, dry_run: bool = False, clock: Clock | None = None
) -> DigestReport:
    """Queue the digest of *week* (default: the last complete week) for every weekly reader with news in it.

    Returns per channel how many digests were queued; a rerun queues nothing new. The delivery worker sends them
    (wake it, or run ``newsbot deliver``). Raises InvalidWeek for a malformed week or one that is not over yet;
    *clock* (default: the newsroom's) says when "now" is, so which week is the last complete one.
    """
    zone = digest_zone(newsroom.settings)
    now = (clock or newsroom.clock).now()
    target = parse_week(week, zone) if week else last_complete_week(now, zone)
    if target.end > now:
        opens = target.end.astimezone(zone)
        raise InvalidWeek(f"{target.key} is not over yet; its digest can be sent from {opens:%A %Y-%m-%d %H:%M %Z}")
    if dry_run:
        async with newsroom.reader.connect() as conn:
            stories = await stories_store.load_week_stories(conn, target.start, target.end)
            queued = await deliveries.count_digest_audience(conn, target.key, target.start, target.end)
        return DigestReport(target.key, target.label, len(stories), queued, dry_run=True)
    async with newsroom.engine.begin() as conn:
        stories = await stories_store.load_week_stories(conn, target.start, target.end)
        queued = await deliveries.count_digest_audience(conn, target.key, target.start, target.end)
        await deliveries.plan_digest_deliveries(conn, target.key, target.start, target.end, now)
        await fit_digest_to_readers(conn, deliveries.digest_item_key(target.key), target, newsroom.settings, now)
    return DigestReport(target.key, target.label, len(stories), queued)
