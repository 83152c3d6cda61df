"""The social outbox: one post per (story, destination), claimed, recorded and requeued like deliveries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.database import columns_for, insert_ignoring_conflicts, select_views
from subscribers.schema import DeliveryStatus, social_posts
from subscribers.stories import status_if_still_stopped


@dataclass(frozen=True, slots=True)
class ClaimedSocialPost:
    id: int
    story_id: str
    destination: str
    attempts: int
    #: "post", or what is done to a sent post ("edit:<version>", "delete", "withdraw"): only a post is held by a stop.
    kind: str = "post"


@dataclass(frozen=True, slots=True)
class SocialPostView:
    destination: str
    status: str
    attempts: int
    last_error: str | None
    provider_id: str | None


async def queue_social_posts(
    conn: AsyncConnection,
    story_id: str,
    destinations: Iterable[str],
    now: datetime,
    *,
    not_before: datetime | None = None,
) -> int:
    """One pending post per (story, destination), due at *not_before* (an embargo; default now); queuing again
    adds nothing. Returns posts added."""
    added = 0
    # One statement per destination (a story has a handful): rowcount after executemany is not portable.
    for destination in dict.fromkeys(destinations):
        result = await conn.execute(
            insert_ignoring_conflicts(conn, social_posts).values(
                story_id=story_id,
                destination=destination,
                status=DeliveryStatus.PENDING.value,
                attempts=0,
                not_before=not_before or now,
                created_at=now,
                updated_at=now,
            )
        )
        added += max(result.rowcount, 0)
    return added


async def claim_due_social_posts(conn: AsyncConnection, limit: int, now: datetime) -> list[ClaimedSocialPost]:
    """Take due pending posts, oldest first, and mark them as being sent."""
    rows = list(
        await conn.execute(
            select(*columns_for(ClaimedSocialPost, social_posts))
            .where(social_posts.c.status == DeliveryStatus.PENDING.value, social_posts.c.not_before <= now)
            .order_by(social_posts.c.not_before, social_posts.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if rows:
        await conn.execute(
            update(social_posts)
            .where(social_posts.c.id.in_([row.id for row in rows]))
            .values(status=DeliveryStatus.SENDING.value, updated_at=now)
        )
    return [ClaimedSocialPost(*row) for row in rows]


async def record_social_post(
    conn: AsyncConnection,
    post_id: int,
    status: DeliveryStatus,
    now: datetime,
    *,
    error: str | None = None,
    provider_id: str | None = None,
    retry_at: datetime | None = None,
) -> None:
    """Write one post's outcome; a cancelled post (its destination was unconfigured) or a stopped one (its story
    was stopped before it went out) was never attempted."""
    tried = 0 if status in (DeliveryStatus.CANCELLED, DeliveryStatus.STOPPED) else 1
    # A post skipped for a stop goes back to the queue if the story was resumed meanwhile.
    new_status = status_if_still_stopped(social_posts.c.story_id) if status is DeliveryStatus.STOPPED else status.value
    await conn.execute(
        update(social_posts)
        .where(social_posts.c.id == post_id)
        .values(
            status=new_status,
            attempts=social_posts.c.attempts + tried,
            last_error=error,
            provider_id=provider_id,
            not_before=retry_at or now,
            sent_at=now if status is DeliveryStatus.SENT else None,
            updated_at=now,
        )
    )


async def next_social_retry_time(conn: AsyncConnection) -> datetime | None:
    return (
        await conn.execute(
            select(func.min(social_posts.c.not_before)).where(social_posts.c.status == DeliveryStatus.PENDING.value)
        )
    ).scalar_one_or_none()


async def list_social_posts(conn: AsyncConnection, story_id: str) -> list[SocialPostView]:
    where = social_posts.c.story_id == story_id
    return await select_views(conn, SocialPostView, social_posts, where, order_by=[social_posts.c.id])


async def social_post_status_totals(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(select(social_posts.c.status, func.count()).group_by(social_posts.c.status))
    return {status: count for status, count in rows}
