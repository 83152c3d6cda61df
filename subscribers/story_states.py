"""A story's send state after intake: its embargo moved or cancelled, its send stopped and resumed, and the stories
a worker must not send right now (halted: stopped or retracted).

Only the story's own new messages are held by a stop: ``story:<id>`` and ``correction:<id>:<version>``
deliveries and its ``post`` social posts. Edits, deletions and withdrawal notices of what was already sent are the
retraction's and correction's own work and are never held here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement

from subscribers.database import CHUNK, columns_for
from subscribers.deliveries import story_item_key
from subscribers.schema import ChannelName, DeliveryStatus, deliveries, social_posts, stories

#: The item kinds (the part of ``item_key`` before the first ':') that are new messages of a story.
HELD_ITEM_KINDS = ("story", "correction")
#: The social post kind that is the story's own post.
POST_KIND = "post"


@dataclass(frozen=True, slots=True)
class StoryState:
    """Where a stored story is in its life: when it goes (None: at once), the version readers see now, and whether
    it is stopped or withdrawn."""

    id: str
    title: str
    created_at: datetime
    publish_at: datetime | None
    stopped_at: datetime | None
    retracted_at: datetime | None
    version: int
    correction_note: str | None
    corrected_at: datetime | None
    #: The story this one updates (``updates_story_id``, the one field not named like its column).
    updates: str | None


async def load_story_state(conn: AsyncConnection, story_id: str) -> StoryState | None:
    query = select(*columns_for(StoryState, stories), stories.c.updates_story_id).where(stories.c.id == story_id)
    row = (await conn.execute(query)).one_or_none()
    return None if row is None else StoryState(*row)


def _held_deliveries(story_id: str) -> ColumnElement[bool]:
    """The story's own messages to readers: the story itself and its correction notices."""
    return (deliveries.c.story_id == story_id) & or_(
        deliveries.c.item_key == story_item_key(story_id),
        deliveries.c.item_key.like(f"correction:{_escape_like(story_id)}:%", escape="\\"),
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _held_posts(story_id: str) -> ColumnElement[bool]:
    return (social_posts.c.story_id == story_id) & (social_posts.c.kind == POST_KIND)


async def count_sent(conn: AsyncConnection, story_id: str) -> int:
    """Readers' messages and social posts of the story already sent: once any is, its schedule is history."""
    total = 0
    for table, held in ((deliveries, _held_deliveries(story_id)), (social_posts, _held_posts(story_id))):
        query = select(func.count()).select_from(table).where(held, table.c.status == DeliveryStatus.SENT.value)
        total += (await conn.execute(query)).scalar_one()
    return total


async def move_schedule(
    conn: AsyncConnection, story_id: str, publish_at: datetime, now: datetime
) -> tuple[dict[str, int], int]:
    """Set the story's embargo to *publish_at* and make its queued messages and posts wait for it.

    Returns the deliveries moved per channel and the posts moved.
    """
    await conn.execute(update(stories).where(stories.c.id == story_id).values(publish_at=publish_at))
    return await _set_waiting(conn, story_id, DeliveryStatus.PENDING, now, not_before=publish_at)


async def cancel_schedule(conn: AsyncConnection, story_id: str, now: datetime) -> tuple[dict[str, int], int]:
    """Withdraw a story that has not gone out: mark it retracted and cancel its queued messages and posts.

    Returns the deliveries cancelled per channel and the posts cancelled.
    """
    await conn.execute(update(stories).where(stories.c.id == story_id).values(retracted_at=now))
    return await _set_waiting(
        conn, story_id, DeliveryStatus.CANCELLED, now, error="its scheduled publication was cancelled"
    )


async def _set_waiting(
    conn: AsyncConnection,
    story_id: str,
    status: DeliveryStatus,
    now: datetime,
    *,
    not_before: datetime | None = None,
    error: str | None = None,
) -> tuple[dict[str, int], int]:
    """Pending deliveries and posts of the story: to *status*, waiting for *not_before* when given."""
    pending = _held_deliveries(story_id) & (deliveries.c.status == DeliveryStatus.PENDING.value)
    counts = await _count_by_channel(conn, pending)
    values: dict[str, object] = {"status": status.value, "updated_at": now}
    if not_before is not None:
        values["not_before"] = not_before
    if error is not None:
        values["last_error"] = error
    await conn.execute(update(deliveries).where(pending).values(**values))
    result = await conn.execute(
        update(social_posts)
        .where(_held_posts(story_id), social_posts.c.status == DeliveryStatus.PENDING.value)
        .values(**values)
    )
    return counts, max(result.rowcount, 0)


async def _count_by_channel(conn: AsyncConnection, where: ColumnElement[bool]) -> dict[str, int]:
    counts = {c.value: 0 for c in ChannelName}
    rows = await conn.execute(select(deliveries.c.channel, func.count()).where(where).group_by(deliveries.c.channel))
    counts.update({channel: count for channel, count in rows})
    return counts


async def stop_story(conn: AsyncConnection, story_id: str, now: datetime) -> tuple[dict[str, int], int]:
    """Mark the story stopped and hold every message of it still queued: one statement per table.

    Rows a worker has claimed (``sending``) are left to the worker, which sees the mark within its refresh
    interval and records them as stopped instead of sending them. Returns the deliveries and posts held now.
    """
    await conn.execute(update(stories).where(stories.c.id == story_id).values(stopped_at=now))
    pending = _held_deliveries(story_id) & (deliveries.c.status == DeliveryStatus.PENDING.value)
    counts = await _count_by_channel(conn, pending)
    await conn.execute(update(deliveries).where(pending).values(status=DeliveryStatus.STOPPED.value, updated_at=now))
    result = await conn.execute(
        update(social_posts)
        .where(_held_posts(story_id), social_posts.c.status == DeliveryStatus.PENDING.value)
        .values(status=DeliveryStatus.STOPPED.value, updated_at=now)
    )
    return counts, max(result.rowcount, 0)


async def resume_story(conn: AsyncConnection, story_id: str, now: datetime) -> tuple[dict[str, int], int]:
    """Clear the stop and queue the stopped messages and posts again (their embargo, if any, still holds).

    Returns the deliveries and posts queued again.
    """
    await conn.execute(update(stories).where(stories.c.id == story_id).values(stopped_at=None))
    stopped = _held_deliveries(story_id) & (deliveries.c.status == DeliveryStatus.STOPPED.value)
    counts = await _count_by_channel(conn, stopped)
    not_before = case((deliveries.c.not_before > now, deliveries.c.not_before), else_=now)
    await conn.execute(
        update(deliveries)
        .where(stopped)
        .values(status=DeliveryStatus.PENDING.value, not_before=not_before, claimed_by=None, updated_at=now)
    )
    post_not_before = case((social_posts.c.not_before > now, social_posts.c.not_before), else_=now)
    result = await conn.execute(
        update(social_posts)
        .where(_held_posts(story_id), social_posts.c.status == DeliveryStatus.STOPPED.value)
        .values(status=DeliveryStatus.PENDING.value, not_before=post_not_before, claimed_by=None, updated_at=now)
    )
    return counts, max(result.rowcount, 0)


@dataclass(frozen=True, slots=True)
class SendProgress:
    """A story's messages to readers per channel and status, and its social posts by status."""

    deliveries: dict[str, dict[str, int]]
    social_posts: dict[str, int]

    def sent_of(self, channel: str) -> tuple[int, int]:
        """(sent, all) of the channel's messages of the story."""
        counts = self.deliveries.get(channel, {})
        return counts.get(DeliveryStatus.SENT.value, 0), sum(counts.values())


async def send_progress(conn: AsyncConnection, story_id: str) -> SendProgress:
    counts: dict[str, dict[str, int]] = {c.value: {} for c in ChannelName}
    rows = await conn.execute(
        select(deliveries.c.channel, deliveries.c.status, func.count())
        .where(_held_deliveries(story_id))
        .group_by(deliveries.c.channel, deliveries.c.status)
    )
    for channel, status, count in rows:
        counts.setdefault(channel, {})[status] = count
    posts = await conn.execute(
        select(social_posts.c.status, func.count()).where(_held_posts(story_id)).group_by(social_posts.c.status)
    )
    return SendProgress(counts, {status: count for status, count in posts})


#: Why a story is halted, as :func:`halted_among` says.
STOPPED = "stopped"
RETRACTED = "retracted"


async def halted_among(conn: AsyncConnection, story_ids: Iterable[str]) -> dict[str, str]:
    """Which of these stories are halted now, and why (:data:`RETRACTED` or :data:`STOPPED`): primary-key
    lookups, the worker's cheap refresh."""
    ids = list(dict.fromkeys(story_ids))
    halted: dict[str, str] = {}
    for start in range(0, len(ids), CHUNK):
        rows = await conn.execute(
            select(stories.c.id, stories.c.retracted_at.is_not(None)).where(
                stories.c.id.in_(ids[start : start + CHUNK]),
                or_(stories.c.stopped_at.is_not(None), stories.c.retracted_at.is_not(None)),
            )
        )
        halted.update({story_id: RETRACTED if retracted else STOPPED for story_id, retracted in rows})
    return halted


async def stories_published_between(conn: AsyncConnection, start: datetime, end: datetime) -> list[str]:
    """Stories whose embargo lifted in (start, end] and that are neither stopped nor retracted."""
    rows = await conn.execute(
        select(stories.c.id)
        .where(
            stories.c.publish_at > start,
            stories.c.publish_at <= end,
            stories.c.stopped_at.is_(None),
            stories.c.retracted_at.is_(None),
        )
        .order_by(stories.c.publish_at)
    )
    return list(rows.scalars())


@dataclass(frozen=True, slots=True)
class StoryLifeCounts:
    """For `newsbot status`: stories waiting for their embargo (and the next to go), stopped ones and what they
    hold."""

    scheduled: int
    next_story_id: str | None
    next_publish_at: datetime | None
    stopped: int
    stopped_deliveries: int
    stopped_posts: int


async def story_life_counts(conn: AsyncConnection, now: datetime) -> StoryLifeCounts:
    waiting = (stories.c.publish_at > now) & stories.c.retracted_at.is_(None)
    scheduled = (await conn.execute(select(func.count()).select_from(stories).where(waiting))).scalar_one()
    upcoming = (
        await conn.execute(
            select(stories.c.id, stories.c.publish_at).where(waiting).order_by(stories.c.publish_at).limit(1)
        )
    ).one_or_none()
    stopped = (
        await conn.execute(
            select(func.count())
            .select_from(stories)
            .where(stories.c.stopped_at.is_not(None), stories.c.retracted_at.is_(None))
        )
    ).scalar_one()
    held = (
        await conn.execute(
            select(func.count()).select_from(deliveries).where(deliveries.c.status == DeliveryStatus.STOPPED.value)
        )
    ).scalar_one()
    held_posts = (
        await conn.execute(
            select(func.count()).select_from(social_posts).where(social_posts.c.status == DeliveryStatus.STOPPED.value)
        )
    ).scalar_one()
    return StoryLifeCounts(
        scheduled=scheduled,
        next_story_id=upcoming.id if upcoming else None,
        next_publish_at=upcoming.publish_at if upcoming else None,
        stopped=stopped,
        stopped_deliveries=held,
        stopped_posts=held_posts,
    )
