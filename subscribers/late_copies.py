"""Copies a correction could not reach: story messages a worker had claimed before the story was corrected.

A correction queues an edit of every copy already sent; a copy in a worker's hands at that moment was rendered
from the old text and goes out after, so the worker asks here, in the transaction that records it sent, whether
it needs an edit too (at most the worker's claimed batch per correction; an edit of a copy that was rendered
from the new text after all is answered "not modified" and costs one request).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.schema import ChannelName, Priority, deliveries, stories
from subscribers.story_changes import edit_key, plan_from_sent


async def copies_claimed_before_a_correction(
    conn: AsyncConnection, delivery_ids: Sequence[int]
) -> dict[str, list[int]]:
    """Of these Telegram story deliveries a worker is about to record as sent, those claimed before their story was
    corrected (by story): their message may carry the old text, and the correction's edits only covered copies
    already sent. Call it before the outcomes are written (a claimed row's updated_at is its claim time)."""
    if not delivery_ids:
        return {}
    rows = await conn.execute(
        select(deliveries.c.story_id, deliveries.c.id)
        .join(stories, stories.c.id == deliveries.c.story_id)
        .where(
            deliveries.c.id.in_(list(delivery_ids)),
            deliveries.c.item_key.startswith("story:"),
            stories.c.corrected_at.is_not(None),
            deliveries.c.updated_at <= stories.c.corrected_at,
        )
    )
    late: dict[str, list[int]] = {}
    for story_id, delivery_id in rows:
        late.setdefault(story_id, []).append(delivery_id)
    return late


async def plan_late_edits(conn: AsyncConnection, late: dict[str, list[int]], now: datetime) -> int:
    """An edit to the current version for each copy :func:`copies_claimed_before_a_correction` found, once sent."""
    added = 0
    for story_id, delivery_ids in late.items():
        version = (await conn.execute(select(stories.c.version).where(stories.c.id == story_id))).scalar_one()
        counts = await plan_from_sent(
            conn, story_id, edit_key(story_id, version), Priority.BREAKING, now,
            channels=[ChannelName.TELEGRAM.value], only_ids=delivery_ids,
        )  # fmt: skip
        added += sum(counts.values())
    return added
