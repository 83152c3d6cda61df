"""Which language each reader reads newsbot in: chosen with /language or on the preference page, or learnt at
first contact (a Telegram app's language, a browser's Accept-Language). NULL means the outlet's default."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.schema import ChannelName, addresses, subscribers


async def language_of(conn: AsyncConnection, subscriber_id: int) -> str | None:
    """The reader's stored language, or None when they have none (or do not exist)."""
    query = select(subscribers.c.language).where(subscribers.c.id == subscriber_id)
    return (await conn.execute(query)).scalar_one_or_none()


async def languages_of(conn: AsyncConnection, subscriber_ids: Iterable[int]) -> dict[int, str | None]:
    """The stored language of each reader, in one query for a whole batch of deliveries."""
    ids = sorted(set(subscriber_ids))
    if not ids:
        return {}
    rows = await conn.execute(select(subscribers.c.id, subscribers.c.language).where(subscribers.c.id.in_(ids)))
    return {int(row.id): row.language for row in rows}


async def chat_language(conn: AsyncConnection, chat_id: str) -> tuple[int, str | None] | None:
    """A Telegram chat's reader and their stored language; None before the chat's first contact."""
    query = (
        select(subscribers.c.id, subscribers.c.language)
        .join(addresses, addresses.c.subscriber_id == subscribers.c.id)
        .where(and_(addresses.c.channel == ChannelName.TELEGRAM.value, addresses.c.address == chat_id))
    )
    row = (await conn.execute(query)).one_or_none()
    return None if row is None else (int(row.id), row.language)


async def set_language(conn: AsyncConnection, subscriber_id: int, language: str) -> bool:
    """Store the reader's choice; False when it was already their language (or they do not exist)."""
    changed = await conn.execute(
        update(subscribers)
        .where(subscribers.c.id == subscriber_id, subscribers.c.language.is_distinct_from(language))
        .values(language=language)
    )
    return changed.rowcount > 0


async def learn_language(conn: AsyncConnection, subscriber_id: int, language: str) -> None:
    """Keep the language a reader first came with, unless they have one already (a choice is never overwritten)."""
    await conn.execute(
        update(subscribers)
        .where(subscribers.c.id == subscriber_id, subscribers.c.language.is_(None))
        .values(language=language)
    )
