"""Why an import's insert broke a unique constraint, told as one sentence naming the address.

The import looks every address up before it writes (see :func:`subscribers.readers.add_subscribers`), so a
conflict at insert time is rare: an address a concurrent signup added between the look-up and the insert (on
PostgreSQL; SQLite's writers hold the lock from BEGIN), one the store holds under a spelling its email key does
not match (a key written by an earlier definition), or two entries of the same address handed straight to the
store. The driver only says which constraint failed (SQLite not even which value), so once the insert has failed
and been rolled back, :func:`import_conflict` finds the offending address with one query over the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.bulk_statements import one_of
from subscribers.email_keys import email_key
from subscribers.errors import InvalidSubscriber
from subscribers.schema import addresses

if TYPE_CHECKING:
    from subscribers.readers import NewSubscriber

_EMAIL, _TELEGRAM = "email", "telegram"


class ImportConflict(InvalidSubscriber):
    """An imported address clashes with one the store holds or with another entry of the same import; nothing
    was imported."""


def named_address(channel: str, address: str) -> str:
    """An address as an import's messages name it."""
    return f"email address {address!r}" if channel == _EMAIL else f"Telegram chat {address}"


def _key(channel: str, address: str) -> str:
    return email_key(address) if channel == _EMAIL else address


async def import_conflict(
    conn: AsyncConnection, new: Sequence[NewSubscriber], failure: IntegrityError
) -> ImportConflict:
    """The error to report for *failure*, raised while inserting *new*; the inserted rows must be rolled back
    already (the caller's savepoint), so whatever the store holds of these addresses was there before."""
    first: dict[tuple[str, str], str] = {}
    for sub in new:
        for a in sub.addresses:
            channel = str(a.channel)
            key = (channel, _key(channel, a.address))
            if key in first:
                also = "" if first[key] == a.address else f" (also as {first[key]!r})"
                return ImportConflict(
                    f"{named_address(channel, a.address)} appears twice in the import{also}; nothing imported"
                )
            first[key] = a.address
    found = await _held(conn, first)
    if found is not None:
        channel, address, stored, owner = found
        spelled = "" if stored == address else f" as {stored!r}"
        return ImportConflict(
            f"{named_address(channel, address)} is already held by reader {owner}{spelled}, which the import's check "
            "did not see (added meanwhile, or kept under an older email key); nothing imported"
        )
    cause = failure.orig if failure.orig is not None else failure
    lines = str(cause).strip().splitlines()
    reason = " ".join(filter(None, [lines[0] if lines else type(cause).__name__, getattr(cause, "detail", None)]))
    return ImportConflict(f"the store refused the import ({reason}); nothing imported")


async def _held(conn: AsyncConnection, given: dict[tuple[str, str], str]) -> tuple[str, str, str, int] | None:
    """The first of the *given* addresses (by channel and key) the store holds: by chat id, email key or spelling."""
    chats = [address for (channel, _), address in given.items() if channel == _TELEGRAM]
    emails = [address for (channel, _), address in given.items() if channel == _EMAIL]
    keys = [key for (channel, key) in given if channel == _EMAIL]
    conditions = []
    if chats:
        conditions.append(and_(addresses.c.channel == _TELEGRAM, one_of(conn, addresses.c.address, chats)))
    if emails:
        by_key_or_spelling = or_(one_of(conn, addresses.c.email_key, keys), one_of(conn, addresses.c.address, emails))
        conditions.append(and_(addresses.c.channel == _EMAIL, by_key_or_spelling))
    if not conditions:
        return None
    query = select(addresses.c.channel, addresses.c.address, addresses.c.email_key, addresses.c.subscriber_id)
    row = (await conn.execute(query.where(or_(*conditions)).order_by(addresses.c.id).limit(1))).first()
    if row is None:
        return None
    address = row.address
    if row.channel == _EMAIL:  # matched by key, or else by spelling (whose key is then the given one's)
        address = given.get((_EMAIL, row.email_key or ""), given.get((_EMAIL, email_key(row.address)), address))
    return row.channel, address, row.address, row.subscriber_id
