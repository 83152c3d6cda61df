"""Channels that cannot be reached, shared by every worker: the pause, its probe and its end.

A row in ``channel_health`` means "this channel is down": workers claim none of its deliveries except one probe at
a time (``take_probe`` lets exactly one worker have it), probes back off from :data:`FIRST_PROBE_SECONDS` to
:data:`MAX_PROBE_SECONDS`, and the row is deleted when a probe gets through. Deliveries waiting for the channel
keep their attempts; only once the outage and the delivery are both older than the retry window (NEWSBOT_RETRY_FOR)
is a delivery marked failed. Because the state is in the store, ``newsbot status`` in another process sees it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.database import insert_ignoring_conflicts
from subscribers.schema import DeliveryStatus, channel_health, deliveries

#: The first probe of a paused channel follows this long after the failure; each failed probe doubles the wait.
FIRST_PROBE_SECONDS = 5.0
MAX_PROBE_SECONDS = 300.0


def probe_delay(failed_probes: int) -> timedelta:
    """How long after a failure the next probe goes out: 5 s, 10 s, 20 s ... at most 5 minutes."""
    return timedelta(seconds=min(MAX_PROBE_SECONDS, FIRST_PROBE_SECONDS * 2 ** min(failed_probes, 16)))


@dataclass(frozen=True, slots=True)
class ChannelOutage:
    """A paused channel: down since when, why, when it is tried next, and how many deliveries wait for it."""

    channel: str
    since: datetime
    last_error: str | None
    failed_probes: int
    next_probe_at: datetime
    waiting: int = 0


async def outages(conn: AsyncConnection, *, count_waiting: bool = False) -> dict[str, ChannelOutage]:
    """Every paused channel by name; with *count_waiting*, the deliveries not yet done on each (one aggregate)."""
    rows = list(
        await conn.execute(
            select(
                channel_health.c.channel,
                channel_health.c.unreachable_since,
                channel_health.c.last_error,
                channel_health.c.failed_probes,
                channel_health.c.next_probe_at,
            )
        )
    )
    if not rows:
        return {}
    waiting: dict[str, int] = {}
    if count_waiting:
        counts = await conn.execute(
            select(deliveries.c.channel, func.count())
            .where(
                deliveries.c.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value]),
                deliveries.c.channel.in_([row.channel for row in rows]),
            )
            .group_by(deliveries.c.channel)
        )
        waiting = {channel: count for channel, count in counts}
    return {row.channel: ChannelOutage(*row, waiting=waiting.get(row.channel, 0)) for row in rows}


async def take_probe(conn: AsyncConnection, channel: str, now: datetime, hold_until: datetime, worker_id: str) -> bool:
    """Let *worker_id* probe *channel* if a probe is due; True for exactly one of several workers asking at once.

    Until *hold_until* nobody else probes, so a worker that dies with the probe in flight delays the next one by
    that much and no more.
    """
    result = await conn.execute(
        update(channel_health)
        .where(channel_health.c.channel == channel, channel_health.c.next_probe_at <= now)
        .values(next_probe_at=hold_until, probe_by=worker_id, updated_at=now)
    )
    return result.rowcount == 1


async def record_unreachable(conn: AsyncConnection, channel: str, reason: str, now: datetime, *, probe: bool) -> None:
    """A send found *channel* unreachable: pause it (if it was not), or, for a failed probe, back off further.

    A send that was already under way when another one paused the channel changes nothing but the reason.
    """
    current = (
        await conn.execute(
            select(channel_health.c.failed_probes).where(channel_health.c.channel == channel).with_for_update()
        )
    ).scalar_one_or_none()
    if current is None:
        await conn.execute(
            insert_ignoring_conflicts(conn, channel_health).values(
                channel=channel,
                unreachable_since=now,
                last_error=reason,
                failed_probes=0,
                next_probe_at=now + probe_delay(0),
                updated_at=now,
            )
        )
        return
    values: dict[str, object] = {"last_error": reason, "updated_at": now}
    if probe:
        values |= {"failed_probes": current + 1, "next_probe_at": now + probe_delay(current + 1), "probe_by": None}
    await conn.execute(update(channel_health).where(channel_health.c.channel == channel).values(**values))


async def record_reachable(conn: AsyncConnection, channel: str) -> None:
    """A probe got through: the channel is no longer paused, and what waited for it is due at once."""
    await conn.execute(delete(channel_health).where(channel_health.c.channel == channel))


async def give_up_waiting(conn: AsyncConnection, channel: str, now: datetime, retry_for: timedelta) -> int:
    """Mark failed what has waited for *channel* longer than *retry_for*, once the outage itself is that old.

    Returns how many deliveries gave up. Every delivery gets the whole window, whenever it was queued.
    """
    outage = (
        await conn.execute(
            select(channel_health.c.unreachable_since, channel_health.c.last_error).where(
                channel_health.c.channel == channel
            )
        )
    ).one_or_none()
    if outage is None or outage.unreachable_since > now - retry_for:
        return 0
    reason = f"gave up after {_duration(retry_for)} of {channel} unreachable: {outage.last_error or 'unknown error'}"
    result = await conn.execute(
        update(deliveries)
        .where(
            deliveries.c.channel == channel,
            deliveries.c.status == DeliveryStatus.PENDING.value,
            deliveries.c.created_at <= now - retry_for,
        )
        .values(status=DeliveryStatus.FAILED.value, last_error=reason, claimed_by=None, updated_at=now)
    )
    return result.rowcount


def _duration(span: timedelta) -> str:
    seconds = span.total_seconds()
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


async def probe_now(conn: AsyncConnection, now: datetime, channels: Collection[str] | None = None) -> int:
    """Make the next probe of the paused *channels* (all when None) due now, its backoff starting over."""
    query = update(channel_health).values(next_probe_at=now, failed_probes=0, probe_by=None, updated_at=now)
    if channels is not None:
        query = query.where(channel_health.c.channel.in_(list(channels)))
    return (await conn.execute(query)).rowcount


async def next_due_time(conn: AsyncConnection) -> datetime | None:
    """When something can next be sent: the earliest retry on a working channel, or the next probe of a paused
    channel that has deliveries waiting (None when nothing waits at all)."""
    paused = {row.channel: row.next_probe_at for row in await conn.execute(select(channel_health))}
    pending = deliveries.c.status == DeliveryStatus.PENDING.value
    candidates: list[datetime] = []
    earliest = (
        await conn.execute(
            select(func.min(deliveries.c.not_before)).where(pending, deliveries.c.channel.not_in(list(paused)))
        )
    ).scalar_one_or_none()
    if earliest is not None:
        candidates.append(earliest)
    if paused:
        waiting = await conn.execute(
            select(deliveries.c.channel).where(pending, deliveries.c.channel.in_(list(paused))).distinct()
        )
        candidates.extend(paused[channel] for channel in waiting.scalars())
    return min(candidates, default=None)
