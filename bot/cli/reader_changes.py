"""Changing readers who already exist: `subscribers add` on a known address, and `subscribers update`.

Both apply exactly what was asked (topics, cadence per channel, confirmation) and print one line saying what
changed, e.g. ``reader@example.org: confirmed; email cadence weekly → instant; follows +local``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.app.errors import InvalidSubscriber, SubscriberNotFound
from bot.app.newsroom import Newsroom
from bot.cli.console import fail, out, run_command, settings_of, with_newsroom
from subscribers import email_readers, readers
from subscribers.preferences import normalise_chat_id, normalise_email, parse_cadence_options
from subscribers.reader_updates import ReaderChanges, apply_reader_changes
from subscribers.readers import NewSubscriber, ReaderPreferences
from subscribers.schema import AddressStatus, Cadence, ChannelName

PENDING_NOTICE = "The email address gets nothing until it is confirmed (double opt-in)."
_WAS = {AddressStatus.INACTIVE.value: "unsubscribed", AddressStatus.BOUNCED.value: "bounced"}


@dataclass(frozen=True, slots=True)
class ReaderUpdate:
    """An existing reader after an update: who, what changed, and whether their email still waits for opt-in."""

    label: str
    changes: ReaderChanges
    email_pending: bool

    def describe(self) -> str:
        """One line: ``<reader>: <change>; <change>`` (or that nothing changed)."""
        parts = [
            f"{'telegram chat' if channel == ChannelName.TELEGRAM else channel} {address} added"
            + (" (waiting for confirmation)" if status == AddressStatus.PENDING else "")
            for channel, address, status in self.changes.added_addresses
        ]
        was = self.changes.confirmed_from
        if was is not None:
            parts.append("confirmed" + (f" (was {_WAS[was]})" if was in _WAS else ""))
        parts.extend(f"{channel} cadence {old} → {new}" for channel, old, new in self.changes.cadences)
        moves = [f"+{t}" for t in self.changes.followed] + [f"-{t}" for t in self.changes.unfollowed]
        if moves:
            parts.append("follows " + " ".join(moves))
        return f"{self.label}: {'; '.join(parts) if parts else 'nothing changed'}"


def reader_label(reader: ReaderPreferences) -> str:
    """How a reader is named in messages: their email address as on file, else their chat."""
    email = reader.addresses.get(ChannelName.EMAIL.value)
    if email is not None:
        return email.address
    chat = reader.addresses.get(ChannelName.TELEGRAM.value)
    return f"telegram chat {chat.address}" if chat else f"subscriber {reader.subscriber_id}"


def _check_channels(reader: ReaderPreferences, cadences: Mapping[ChannelName, Cadence], confirm: bool) -> None:
    label = reader_label(reader)
    for channel in cadences:
        if channel.value not in reader.addresses:
            raise InvalidSubscriber(f"{label} has no {channel.value} address: cannot set its cadence")
    if confirm and ChannelName.EMAIL.value not in reader.addresses:
        raise InvalidSubscriber(f"{label} has no email address to confirm")


async def _email_pending(conn: AsyncConnection, subscriber_id: int) -> bool:
    row = await email_readers.find_email_of_subscriber(conn, subscriber_id)
    return row is not None and row.status == AddressStatus.PENDING.value


async def add_or_update(
    newsroom: Newsroom, subscriber: NewSubscriber, *, confirmed: bool, cadences: Mapping[ChannelName, Cadence]
) -> ReaderUpdate | None:
    """`subscribers add`: create the reader (returns None), or apply the request to the one owning its address.

    On an existing reader the topics are added, the cadences given are set, ``--confirmed`` confirms the email
    address given, and an address of a channel the reader has none on is added. An address that belongs to a
    different reader than the other one given, or a second address on a channel, is refused.
    """
    now = newsroom.clock.now()
    keys = [(a.channel.value, a.address) for a in subscriber.addresses]
    async with newsroom.engine.begin() as conn:
        owners = await readers.find_subscriber_ids(conn, keys)
        ids = sorted(set(owners.values()))
        if not ids:
            await readers.add_subscribers(conn, [subscriber], now)
            return None
        if len(ids) > 1:
            raise InvalidSubscriber(
                f"{' and '.join(a for _, a in keys)} belong to different subscribers ({', '.join(map(str, ids))}); "
                "remove one first"
            )
        reader = await readers.load_reader_preferences(conn, ids[0])
        if reader is None:  # removed between the two statements (PostgreSQL; SQLite holds the write lock)
            raise SubscriberNotFound(f"subscriber {ids[0]} was removed meanwhile")
        missing = [a for a in subscriber.addresses if (a.channel.value, a.address) not in owners]
        for new in missing:
            other = reader.addresses.get(new.channel.value)
            if other is not None:
                raise InvalidSubscriber(
                    f"{reader_label(reader)} already has the {new.channel.value} address {other.address}; "
                    f"a subscriber has one per channel"
                )
        added_channels = {a.channel for a in missing}
        given_email = any(a.channel is ChannelName.EMAIL for a in subscriber.addresses)
        changes = await apply_reader_changes(
            conn,
            reader,
            now=now,
            add_addresses=missing,
            follow=subscriber.topics,
            cadences={c: v for c, v in cadences.items() if c not in added_channels},
            confirm_email=confirmed and given_email and ChannelName.EMAIL not in added_channels,
        )
        after = await readers.load_reader_preferences(conn, reader.subscriber_id)
        label = reader_label(after or reader)
        return ReaderUpdate(label, changes, await _email_pending(conn, reader.subscriber_id))


# Registered as `subscribers update` by bot.cli.reader_commands (which imports this module).
def subscribers_update(
    ctx: typer.Context,
    email: Annotated[str | None, typer.Option(help="The reader's email address (any case).")] = None,
    telegram_chat: Annotated[str | None, typer.Option(help="The reader's Telegram chat id.")] = None,
    topic: Annotated[list[str], typer.Option("--topic", "-t", help="Topic to follow as well.")] = [],  # noqa: B006
    remove_topic: Annotated[list[str], typer.Option(help="Topic to stop following.")] = [],  # noqa: B006
    set_topic: Annotated[
        list[str], typer.Option(help="Follow exactly these topics (repeat it); replaces --topic/--remove-topic.")
    ] = [],  # noqa: B006
    cadence: Annotated[
        list[str], typer.Option(help="CHANNEL=CADENCE, e.g. email=instant (instant, weekly, off).")
    ] = [],  # noqa: B006
    confirmed: Annotated[bool, typer.Option(help="Confirm the reader's email address (no double opt-in).")] = False,
) -> None:
    """Change an existing reader's topics, cadence or confirmation; prints what changed."""
    if (email is None) == (telegram_chat is None):
        fail("give exactly one of --email or --telegram-chat", code=2)
    if set_topic and (topic or remove_topic):
        fail("--set-topic replaces the topics: give it without --topic and --remove-topic", code=2)
    if not (topic or remove_topic or set_topic or cadence or confirmed):
        fail("nothing to change: give --topic, --remove-topic, --set-topic, --cadence or --confirmed", code=2)

    async def work(newsroom: Newsroom) -> ReaderUpdate:
        taxonomy = newsroom.taxonomy
        cadences = parse_cadence_options(cadence)
        follow, unfollow, exactly = (taxonomy.resolve_all(names) for names in (topic, remove_topic, set_topic))
        key = (
            (ChannelName.EMAIL.value, normalise_email(email))
            if email is not None
            else (ChannelName.TELEGRAM.value, normalise_chat_id(telegram_chat or ""))
        )
        async with newsroom.engine.begin() as conn:
            subscriber_id = (await readers.find_subscriber_ids(conn, [key])).get(key)
            reader = None if subscriber_id is None else await readers.load_reader_preferences(conn, subscriber_id)
            if reader is None:
                raise SubscriberNotFound(f"no subscriber with {key[0]} address {key[1]}")
            _check_channels(reader, cadences, confirmed)
            changes = await apply_reader_changes(
                conn,
                reader,
                now=newsroom.clock.now(),
                follow=follow,
                unfollow=unfollow,
                set_topics=exactly or None,
                cadences=cadences,
                confirm_email=confirmed,
            )
            return ReaderUpdate(reader_label(reader), changes, await _email_pending(conn, reader.subscriber_id))

    update = run_command(with_newsroom(settings_of(ctx), work))
    out.print(update.describe(), markup=False)


def print_add_outcome(update: ReaderUpdate | None, *, email_given: bool, confirmed: bool) -> None:
    """What `subscribers add` says: a new reader, or the changes to an existing one."""
    if update is None:
        out.print("Added a subscriber.", markup=False)
        pending = email_given and not confirmed
    else:
        out.print(update.describe(), markup=False)
        pending = update.email_pending
    if pending:
        out.print(PENDING_NOTICE, markup=False)
