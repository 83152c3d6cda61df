"""Which known reader each import row belongs to, and the rows that cannot belong to one.

A row names up to two addresses. All of them new: a new reader. Any of them known: that reader, who gets the
row's topics and, for an address the store does not hold yet, that address (the row asked for it). A row whose
addresses belong to two different readers, or that gives a new address on a channel its reader already has
another one on, cannot be carried out as asked and is refused with one sentence naming the readers.

Email addresses are matched by their key (see :mod:`subscribers.email_keys`). A key written by an earlier
definition does not match today's; the addresses whose stored key is not today's key of their spelling are few,
so one query finds them all and their spelling's key is compared here, in Python, as every key is computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.bulk_statements import one_of
from subscribers.email_keys import email_key
from subscribers.errors import InvalidSubscriber
from subscribers.import_conflicts import named_address
from subscribers.schema import addresses

if TYPE_CHECKING:
    from subscribers.readers import NewAddress, NewSubscriber

_EMAIL = "email"


class RefusedRows(InvalidSubscriber):
    """Import rows that name addresses of two readers (or a second address on a reader's channel); nothing was
    imported. ``reasons`` maps each row's index in the import to its sentence."""

    def __init__(self, reasons: Mapping[int, str]) -> None:
        self.reasons = dict(reasons)
        more = f" (and {len(reasons) - 1} more rows)" if len(reasons) > 1 else ""
        super().__init__(f"{next(iter(self.reasons.values()))}{more}; nothing imported")


@dataclass(slots=True)
class RowOwners:
    """Per row of the import, the known reader it belongs to (None: a new reader, or a refused row)."""

    owners: list[int | None]
    #: Addresses to add to known readers: (reader, address).
    added: list[tuple[int, NewAddress]] = field(default_factory=list)
    #: Refused rows: index in the import -> why.
    refused: dict[int, str] = field(default_factory=dict)


async def stale_key_owners(conn: AsyncConnection) -> dict[str, int]:
    """Today's key -> reader, of the email addresses whose stored key is not today's key of their spelling.

    SQL's ``lower()`` only narrows the rows (SQLite's folds ASCII only); today's key is computed in Python."""
    stale = or_(addresses.c.email_key.is_(None), addresses.c.email_key != func.lower(addresses.c.address))
    query = select(addresses.c.address, addresses.c.email_key, addresses.c.subscriber_id)
    found: dict[str, int] = {}
    for row in await conn.execute(query.where(addresses.c.channel == _EMAIL, stale)):
        key = email_key(row.address)
        if key != row.email_key:
            found[key] = row.subscriber_id
    return found


async def row_owners(
    conn: AsyncConnection, new: Sequence[NewSubscriber], existing: Mapping[tuple[str, str], int]
) -> RowOwners:
    """Sort the rows *new* by the readers they belong to; *existing* maps the (channel, address) pairs the store
    holds under today's keys to their readers (see :func:`subscribers.readers.find_subscriber_ids`)."""
    # Usually none: then no row needs its keys computed again.
    by_stale_key = await stale_key_owners(conn)
    if not existing and not by_stale_key:  # none known: every row is a new reader
        return RowOwners(owners=[None] * len(new))

    def owner_of(a: NewAddress) -> int | None:
        channel = str(a.channel)
        found = existing.get((channel, a.address))
        if found is None and by_stale_key and channel == _EMAIL:
            found = by_stale_key.get(email_key(a.address))
        return found

    plan = RowOwners(owners=[])
    owners = plan.owners
    partial: dict[int, tuple[int, NewAddress]] = {}
    for i, sub in enumerate(new):  # a row has one address, or two on different channels
        if len(sub.addresses) != 2:
            owners.append(owner_of(sub.addresses[0]) if sub.addresses else None)
            continue
        a, b = sub.addresses
        first, second = owner_of(a), owner_of(b)
        if first is None or second is None or first == second:
            owner = second if first is None else first
            owners.append(owner)
            if owner is not None and (first is None or second is None):
                partial[i] = (owner, a if first is None else b)
            continue
        plan.refused[i] = (
            f"{named_address(str(a.channel), a.address)} belongs to reader {first}, "
            f"{named_address(str(b.channel), b.address)} to reader {second}"
        )
        owners.append(None)
    if not partial:
        return plan
    # The new addresses' readers may have another address on that channel (a reader has one per channel).
    query = select(addresses.c.subscriber_id, addresses.c.channel, addresses.c.address)
    ids = sorted({owner for owner, _ in partial.values()})
    held = {
        (r.subscriber_id, r.channel): r.address
        for r in await conn.execute(query.where(one_of(conn, addresses.c.subscriber_id, ids)))
    }
    for i, (owner, a) in partial.items():
        channel = str(a.channel)
        other = held.get((owner, channel))
        if other is None:
            plan.added.append((owner, a))
            continue
        known = next(k for k in new[i].addresses if k is not a)
        plan.refused[i] = (
            f"{named_address(str(known.channel), known.address)} belongs to reader {owner}, who already has "
            f"{named_address(channel, other)}, not {a.address}"
        )
        owners[i] = None
    return plan
