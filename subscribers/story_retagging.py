"""Adding topics to a stored story that has not gone out yet (`newsbot retag`, the API's story topics)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.queries import story_item_key
from subscribers.schema import DeliveryStatus, deliveries, story_topics


async def count_sent_deliveries(conn: AsyncConnection, story_id: str) -> int:
    """How many readers the story has already reached: once one has, its topics are history, not a plan."""
    return (
        await conn.execute(
            select(func.count())
            .select_from(deliveries)
            .where(deliveries.c.item_key == story_item_key(story_id), deliveries.c.status == DeliveryStatus.SENT.value)
        )
    ).scalar_one()


async def add_story_topics(conn: AsyncConnection, story_id: str, topics: Sequence[str]) -> list[str]:
    """Give the story these topics too, after the ones it has; returns those it did not have, in order."""
    query = select(story_topics.c.topic, story_topics.c.position).where(story_topics.c.story_id == story_id)
    rows = list(await conn.execute(query))
    have = {row.topic for row in rows}
    added = [topic for topic in dict.fromkeys(topics) if topic not in have]
    start = max((row.position for row in rows), default=-1) + 1
    if added:
        await conn.execute(
            story_topics.insert(),
            [{"story_id": story_id, "topic": topic, "position": start + i} for i, topic in enumerate(added)],
        )
    return added
