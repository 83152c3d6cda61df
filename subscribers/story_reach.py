"""How far a sent story reached, read before an editor acts on it: the counts a Telegram editor's confirmation
shows ("edits N copies", "deletes N younger than 48 h"), and which story a message the bot sent belongs to.

Read-only; the actions themselves (correct, retract, follow up) count again in their own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.deliveries import deliveries_with_addresses, story_item_key
from subscribers.schema import ChannelName, DeliveryStatus, addresses, deliveries


@dataclass(frozen=True, slots=True)
class StoryReach:
    """A story's messages to readers: sent per channel, its Telegram copies by age, and what still waits."""

    #: Sent copies per channel (the readers who got it, on the channel they got it on).
    sent: dict[str, int] = field(default_factory=dict)
    #: Telegram copies with a message id, sent at or after the cutoff, and before it.
    telegram_recent: int = 0
    telegram_older: int = 0
    #: The story's deliveries not sent yet (queued or stopped), which a retraction cancels.
    waiting: int = 0

    @property
    def telegram_copies(self) -> int:
        return self.telegram_recent + self.telegram_older

    @property
    def readers(self) -> int:
        return sum(self.sent.values())


async def story_reach(conn: AsyncConnection, story_id: str, cutoff: datetime) -> StoryReach:
    """Where the story's own messages (``story:<id>``) stand; Telegram copies split at *cutoff* by ``sent_at``."""
    own = deliveries.c.item_key == story_item_key(story_id)
    sent_rows = await conn.execute(
        select(deliveries.c.channel, func.count())
        .where(own, deliveries.c.status == DeliveryStatus.SENT.value)
        .group_by(deliveries.c.channel)
    )
    sent = {channel.value: 0 for channel in ChannelName}
    sent.update({channel: count for channel, count in sent_rows})
    # One bound cutoff, summed per row: PostgreSQL cannot group by a comparison whose parameter appears twice.
    recent = func.coalesce(func.sum(case((deliveries.c.sent_at >= cutoff, 1), else_=0)), 0)
    copies = (
        await conn.execute(
            select(func.count(), recent).where(
                own,
                deliveries.c.status == DeliveryStatus.SENT.value,
                deliveries.c.channel == ChannelName.TELEGRAM.value,
                deliveries.c.provider_id.is_not(None),
            )
        )
    ).one()
    total, young = int(copies[0]), int(copies[1])
    waiting = (
        await conn.execute(
            select(func.count())
            .select_from(deliveries)
            .where(
                deliveries.c.story_id == story_id,
                deliveries.c.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.STOPPED.value]),
            )
        )
    ).scalar_one()
    return StoryReach(sent, young, total - young, waiting)


async def story_of_message(conn: AsyncConnection, chat_id: str, message_id: int) -> str | None:
    """The story whose copy the bot sent to *chat_id* as message *message_id* (its recorded provider id)."""
    row = (
        await conn.execute(
            select(deliveries.c.story_id)
            .select_from(deliveries_with_addresses)
            .where(
                addresses.c.address == chat_id,
                deliveries.c.channel == ChannelName.TELEGRAM.value,
                deliveries.c.provider_id == str(message_id),
                deliveries.c.status == DeliveryStatus.SENT.value,
                deliveries.c.story_id.is_not(None),
            )
            .limit(1)
        )
    ).first()
    return None if row is None else str(row[0])
