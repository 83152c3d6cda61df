"""Telegram readers: a chat (private, group, supergroup or channel) is a subscriber with one Telegram address, the
chat id, created on first contact and made inactive when the bot is blocked or removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.reader_languages import learn_language
from subscribers.readers import NewAddress, address_row, create_subscriber, deactivate_address, remove_subscriber
from subscribers.schema import DEFAULT_CADENCE, AddressStatus, ChannelName, addresses, follows, subscribers


@dataclass(frozen=True, slots=True)
class ChatReader:
    """What a chat follows and how it hears from us, as the bot shows it (one query per command)."""

    subscriber_id: int
    chat_type: str | None
    status: str
    #: Cadence per channel the subscriber has an address on ("telegram", and "email" once linked).
    cadences: dict[str, str]
    email: str | None
    email_status: str | None
    topics: list[str]
    #: The reader's own time zone; None means the outlet's.
    timezone: str | None = None


def _is_chat(chat_id: str) -> ColumnElement[bool]:
    return and_(addresses.c.channel == ChannelName.TELEGRAM.value, addresses.c.address == chat_id)


async def _chat_owner(conn: AsyncConnection, chat_id: str) -> int | None:
    return (await conn.execute(select(addresses.c.subscriber_id).where(_is_chat(chat_id)))).scalar_one_or_none()


async def find_chat_reader(conn: AsyncConnection, chat_id: str) -> ChatReader | None:
    """The subscriber behind a Telegram chat, with its follows and addresses; None before its first contact."""
    telegram = (
        await conn.execute(
            select(addresses.c.subscriber_id, addresses.c.chat_type, addresses.c.status, subscribers.c.timezone)
            .join_from(addresses, subscribers, subscribers.c.id == addresses.c.subscriber_id)
            .where(_is_chat(chat_id))
        )
    ).one_or_none()
    if telegram is None:
        return None
    owned = list(
        await conn.execute(
            select(addresses.c.channel, addresses.c.address, addresses.c.cadence, addresses.c.status).where(
                addresses.c.subscriber_id == telegram.subscriber_id
            )
        )
    )
    email = next((row for row in owned if row.channel == ChannelName.EMAIL.value), None)
    topics = (
        await conn.execute(
            select(follows.c.topic).where(follows.c.subscriber_id == telegram.subscriber_id).order_by(follows.c.topic)
        )
    ).scalars()
    return ChatReader(
        subscriber_id=telegram.subscriber_id,
        chat_type=telegram.chat_type,
        status=telegram.status,
        cadences={row.channel: row.cadence for row in owned},
        email=email.address if email else None,
        email_status=email.status if email else None,
        topics=list(topics),
        timezone=telegram.timezone,
    )


async def open_chat(
    conn: AsyncConnection, chat_id: str, chat_type: str, now: datetime, *, language: str | None = None
) -> int:
    """The subscriber id of a chat, created on first contact with the default cadence and no follows, and reading
    in *language* (the one it was first answered in; None: the outlet's default).

    A chat we hear from can be written to, so an inactive one (it had blocked or removed the bot) becomes active
    again with everything it followed before.
    """
    found = (
        await conn.execute(
            select(addresses.c.subscriber_id, addresses.c.status, addresses.c.chat_type).where(_is_chat(chat_id))
        )
    ).one_or_none()
    if found is not None:
        if found.status != AddressStatus.ACTIVE.value or found.chat_type != chat_type:
            await conn.execute(
                update(addresses)
                .where(_is_chat(chat_id))
                .values(status=AddressStatus.ACTIVE.value, chat_type=chat_type, updated_at=now)
            )
        return int(found.subscriber_id)
    subscriber_id = await create_subscriber(conn, now)
    if language is not None:
        await learn_language(conn, subscriber_id, language)
    chat = NewAddress(ChannelName.TELEGRAM, chat_id, DEFAULT_CADENCE[ChannelName.TELEGRAM], AddressStatus.ACTIVE)
    await conn.execute(addresses.insert().values(address_row(subscriber_id, chat, now, chat_type=chat_type)))
    return subscriber_id


async def close_chat(conn: AsyncConnection, chat_id: str, reason: str, now: datetime) -> bool:
    """The bot was blocked, kicked or removed: the chat becomes inactive (its follows are kept) and what was
    queued for it is cancelled. Returns False for a chat we never knew."""
    subscriber_id = await _chat_owner(conn, chat_id)
    if subscriber_id is None:
        return False
    await deactivate_address(conn, ChannelName.TELEGRAM.value, subscriber_id, AddressStatus.INACTIVE, reason, now)
    return True


async def erase_chat_reader(conn: AsyncConnection, chat_id: str) -> bool:
    """Forget a chat's reader entirely: chat id, email address, follows and queued deliveries (by cascade)."""
    subscriber_id = await _chat_owner(conn, chat_id)
    if subscriber_id is None:
        return False
    return await remove_subscriber(conn, subscriber_id)
