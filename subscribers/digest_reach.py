"""Which of a week's stories already reached a reader at once (an instant or breaking delivery that was sent).

The weekly digest marks those ("sent to you on Tuesday") instead of showing them again in full; the worker loads
them for a whole batch of digest deliveries in one query per chunk of readers, not one per reader.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.database import CHUNK
from subscribers.schema import DeliveryStatus, deliveries, stories


async def stories_sent_at_once(
    conn: AsyncConnection, subscriber_ids: Iterable[int], start: datetime, end: datetime
) -> dict[int, dict[str, datetime]]:
    """For each subscriber, the stories published in [start, end) they were sent as a story, with the first send.

    Any channel counts: a reader who got a breaking story in their chat has read it, whichever channel the digest
    goes to. Subscribers who got none map to an empty dict.
    """
    ids = list(dict.fromkeys(subscriber_ids))
    found: dict[int, dict[str, datetime]] = {subscriber_id: {} for subscriber_id in ids}
    published = func.coalesce(stories.c.publish_at, stories.c.created_at)
    for begin in range(0, len(ids), CHUNK):
        rows = await conn.execute(
            select(deliveries.c.subscriber_id, deliveries.c.story_id, func.min(deliveries.c.sent_at))
            .join(stories, stories.c.id == deliveries.c.story_id)
            .where(
                deliveries.c.subscriber_id.in_(ids[begin : begin + CHUNK]),
                deliveries.c.item_key.like("story:%"),
                deliveries.c.status == DeliveryStatus.SENT.value,
                deliveries.c.sent_at.is_not(None),
                published >= start,
                published < end,
            )
            .group_by(deliveries.c.subscriber_id, deliveries.c.story_id)
        )
        for subscriber_id, story_id, sent_at in rows:
            found[subscriber_id][story_id] = sent_at
    return found
