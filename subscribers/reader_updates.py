"""Changing an existing reader on an editor's behalf (`newsbot subscribers add` on a known address, `subscribers
update`): topics, cadence per channel, confirmation, a missing address; and saying exactly what changed.

The caller loads the reader (:func:`subscribers.readers.load_reader_preferences`), checks the request against it
(a cadence for a channel the reader has, a confirmation for an email address it has) and passes it in; this
module writes only the differences and returns them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers import email_readers, follows, readers
from subscribers.readers import NewAddress, ReaderPreferences
from subscribers.schema import AddressStatus, Cadence, ChannelName, addresses


@dataclass(frozen=True, slots=True)
class ReaderChanges:
    """What an update actually changed (empty when the reader already was as asked)."""

    #: (channel, address, status) of each address added to the reader.
    added_addresses: tuple[tuple[str, str, str], ...] = ()
    #: The email address's status before it was confirmed now (None: not confirmed by this update).
    confirmed_from: str | None = None
    #: (channel, before, after) of each cadence changed.
    cadences: tuple[tuple[str, str, str], ...] = ()
    followed: tuple[str, ...] = ()
    unfollowed: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.added_addresses or self.confirmed_from or self.cadences or self.followed or self.unfollowed)


async def apply_reader_changes(
    conn: AsyncConnection,
    before: ReaderPreferences,
    *,
    now: datetime,
    add_addresses: Sequence[NewAddress] = (),
    follow: Iterable[str] = (),
    unfollow: Iterable[str] = (),
    set_topics: Iterable[str] | None = None,
    cadences: Mapping[ChannelName, Cadence] | None = None,
    confirm_email: bool = False,
) -> ReaderChanges:
    """Bring the reader *before* describes to what is asked; returns what changed.

    *set_topics* replaces what the reader follows; otherwise *follow* is added and *unfollow* removed. A channel
    switched off has its queued deliveries cancelled, as on the preferences page. Confirming an email address
    makes it active with a clean bounce record (whatever its state: the editor vouches for it).
    """
    subscriber_id = before.subscriber_id
    added: list[tuple[str, str, str]] = []
    for new in add_addresses:
        await conn.execute(addresses.insert().values(readers.address_row(subscriber_id, new, now)))
        added.append((new.channel.value, new.address, new.status.value))

    confirmed_from = None
    email = before.addresses.get(ChannelName.EMAIL.value)
    if confirm_email and email is not None and email.status != AddressStatus.ACTIVE.value:
        await email_readers.activate_email(conn, subscriber_id, now)
        confirmed_from = email.status

    changed_cadences: list[tuple[str, str, str]] = []
    for channel, cadence in (cadences or {}).items():
        current = before.addresses.get(channel.value)
        if current is None or current.cadence == cadence.value:
            continue
        await readers.set_cadence(conn, subscriber_id, channel, cadence, now)
        changed_cadences.append((channel.value, current.cadence, cadence.value))
        if cadence is Cadence.OFF:
            await readers.cancel_queued(conn, subscriber_id, channel.value, "switched off by an editor", now)

    old = set(before.topics)
    wanted = set(set_topics) if set_topics is not None else (old | set(follow)) - set(unfollow)
    followed = sorted(wanted - old)
    unfollowed = sorted(old - wanted)
    await follows.set_follows(conn, subscriber_id, followed, now)
    if unfollowed:
        await follows.unfollow_topics(conn, subscriber_id, unfollowed)
    return ReaderChanges(
        added_addresses=tuple(added),
        confirmed_from=confirmed_from,
        cadences=tuple(changed_cadences),
        followed=tuple(followed),
        unfollowed=tuple(unfollowed),
    )
