"""Email readers: an address waits for double opt-in, is confirmed by the latest link only, and stops at once on
unsubscribe.

The confirmation nonce is the random part of an address's latest confirmation link, stored with the address and
checked on confirm. The link's signature already needs the secret key; the nonce makes a confirmation need the
email itself: only someone who received the latest link can confirm the address, whoever knows the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement, Select

from subscribers.email_keys import email_key
from subscribers.readers import NewAddress, address_row, deactivate_address
from subscribers.schema import DEFAULT_CADENCE, AddressStatus, ChannelName, addresses


@dataclass(frozen=True, slots=True)
class EmailAddressRow:
    """A subscriber's email address as double opt-in, unsubscribing and bounce handling see it."""

    subscriber_id: int
    address: str
    status: str
    confirmation_sent_at: datetime | None
    confirmed_at: datetime | None


def _email_row_query() -> Select:
    return select(
        addresses.c.subscriber_id,
        addresses.c.address,
        addresses.c.status,
        addresses.c.confirmation_sent_at,
        addresses.c.confirmed_at,
    ).where(addresses.c.channel == ChannelName.EMAIL.value)


async def find_email_by_address(conn: AsyncConnection, address: str) -> EmailAddressRow | None:
    """The email address on file that is *address* whatever its case (its stored spelling is in the row)."""
    row = (await conn.execute(_email_row_query().where(addresses.c.email_key == email_key(address)))).one_or_none()
    return None if row is None else EmailAddressRow(*row)


async def find_email_of_subscriber(conn: AsyncConnection, subscriber_id: int) -> EmailAddressRow | None:
    row = (await conn.execute(_email_row_query().where(addresses.c.subscriber_id == subscriber_id))).one_or_none()
    return None if row is None else EmailAddressRow(*row)


async def set_pending_email(conn: AsyncConnection, subscriber_id: int, address: str, now: datetime) -> None:
    """Give the subscriber *address* as their email, waiting for double opt-in (replacing any other address).

    A changed address starts over: pending, unconfirmed, no bounces. Queued mail for the old address is cancelled.
    The same address in other case is no change: the spelling on file is kept.
    """
    current = await find_email_of_subscriber(conn, subscriber_id)
    if current is None:
        email = NewAddress(ChannelName.EMAIL, address, DEFAULT_CADENCE[ChannelName.EMAIL], AddressStatus.PENDING)
        await conn.execute(addresses.insert().values(address_row(subscriber_id, email, now)))
        return
    if email_key(current.address) != email_key(address):
        await deactivate_address(
            conn, ChannelName.EMAIL.value, subscriber_id, AddressStatus.PENDING, "email address changed", now
        )
        await conn.execute(
            update(addresses)
            .where(addresses.c.subscriber_id == subscriber_id, addresses.c.channel == ChannelName.EMAIL.value)
            .values(address=address, email_key=email_key(address), confirmed_at=None, bounce_count=0, updated_at=now)
        )
    elif current.status != AddressStatus.ACTIVE.value:
        await conn.execute(
            update(addresses)
            .where(addresses.c.subscriber_id == subscriber_id, addresses.c.channel == ChannelName.EMAIL.value)
            .values(status=AddressStatus.PENDING.value, updated_at=now)
        )


async def mark_confirmation_sent(
    conn: AsyncConnection, subscriber_id: int, sent_at: datetime | None, now: datetime
) -> None:
    """Record when the last confirmation mail went out (None after a failed send, so the reader can retry)."""
    await conn.execute(
        update(addresses)
        .where(addresses.c.subscriber_id == subscriber_id, addresses.c.channel == ChannelName.EMAIL.value)
        .values(confirmation_sent_at=sent_at, updated_at=now)
    )


async def activate_email(conn: AsyncConnection, subscriber_id: int, now: datetime) -> None:
    """Double opt-in done: the address receives mail from now on, with a clean bounce record."""
    await conn.execute(
        update(addresses)
        .where(
            addresses.c.subscriber_id == subscriber_id,
            addresses.c.channel == ChannelName.EMAIL.value,
            addresses.c.status != AddressStatus.ACTIVE.value,
        )
        .values(status=AddressStatus.ACTIVE.value, confirmed_at=now, bounce_count=0, updated_at=now)
    )


async def unsubscribe_email(conn: AsyncConnection, subscriber_id: int, now: datetime) -> bool:
    """Stop all mail to the subscriber's email address at once; True if it was receiving (or awaiting) mail.

    Idempotent; a bounced address stays bounced. Queued deliveries are cancelled, so nothing more is sent.
    """
    current = await find_email_of_subscriber(conn, subscriber_id)
    if current is None or current.status not in (AddressStatus.ACTIVE.value, AddressStatus.PENDING.value):
        return False
    await deactivate_address(
        conn, ChannelName.EMAIL.value, subscriber_id, AddressStatus.INACTIVE, "unsubscribed by the reader", now
    )
    return True


def _email_of(subscriber_id: int) -> ColumnElement[bool]:
    return and_(addresses.c.subscriber_id == subscriber_id, addresses.c.channel == ChannelName.EMAIL.value)


async def set_confirmation_nonce(conn: AsyncConnection, subscriber_id: int, nonce: str) -> None:
    """Record *nonce* as the one the subscriber's latest confirmation link carries."""
    await conn.execute(update(addresses).where(_email_of(subscriber_id)).values(confirmation_nonce=nonce))


async def confirmation_nonce(conn: AsyncConnection, subscriber_id: int) -> str | None:
    """The nonce of the subscriber's latest confirmation link; None for links mailed before nonces existed."""
    query = select(addresses.c.confirmation_nonce).where(_email_of(subscriber_id))
    return (await conn.execute(query)).scalar_one_or_none()
