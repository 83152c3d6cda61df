"""The random part of an address's latest confirmation link, stored with the address and checked on confirm.

The link's signature already needs the secret key; the nonce makes a confirmation need the email itself: only
someone who received the latest link can confirm the address, whoever knows the key.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.schema import ChannelName, addresses


def _email_of(subscriber_id: int) -> ColumnElement[bool]:
    return and_(addresses.c.subscriber_id == subscriber_id, addresses.c.channel == ChannelName.EMAIL.value)


async def set_confirmation_nonce(conn: AsyncConnection, subscriber_id: int, nonce: str) -> None:
    """Record *nonce* as the one the subscriber's latest confirmation link carries."""
    await conn.execute(update(addresses).where(_email_of(subscriber_id)).values(confirmation_nonce=nonce))


async def confirmation_nonce(conn: AsyncConnection, subscriber_id: int) -> str | None:
    """The nonce of the subscriber's latest confirmation link; None for links mailed before nonces existed."""
    query = select(addresses.c.confirmation_nonce).where(_email_of(subscriber_id))
    return (await conn.execute(query)).scalar_one_or_none()
