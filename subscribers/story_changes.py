"""What is done to a story after it went out: corrections (earlier versions kept), the edits, deletions, withdrawal
notices and correction notices that follow its sent messages, and retraction.

Each change is planned like a send: one ``INSERT ... SELECT`` over the story's sent deliveries (or sent social
posts) into the same outbox, idempotent through the unique keys, so the delivery worker and the social poster
send, retry, rate-limit and recover them like any other message. Item keys are documented in
:mod:`subscribers.schema`; deletion and withdrawal rows carry no ``story_id``, because the workers halt every
row of a retracted story and these are the rows that must still go out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, func, literal, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.database import CHUNK, insert_ignoring_conflicts
from subscribers.schema import (
    AddressStatus,
    ChannelName,
    DeliveryStatus,
    Priority,
    addresses,
    deliveries,
    social_posts,
    stories,
    story_topics,
    story_versions,
)
from subscribers.story_language_filters import held_back_from
from subscribers.story_states import POST_KIND

#: Social destinations whose sent posts can be edited or deleted (the outlet's Telegram channels).
TELEGRAM_DESTINATION_PREFIX = "telegram:"
#: Kinds of delivery rows that change a sent story message, by item-key prefix.
CHANGE_KINDS = ("edit", "correction", "delete", "withdraw")


def story_key(story_id: str) -> str:
    return f"story:{story_id}"


def edit_key(story_id: str, version: int) -> str:
    return f"edit:{story_id}:{version}"


def correction_key(story_id: str, version: int) -> str:
    return f"correction:{story_id}:{version}"


def delete_key(story_id: str) -> str:
    return f"delete:{story_id}"


def withdraw_key(story_id: str) -> str:
    return f"withdraw:{story_id}"


def story_id_of(item_key: str) -> str:
    """The story id in a change's item key ("edit:<id>:<version>", "delete:<id>" ...); ids may contain ':'."""
    kind, _, rest = item_key.partition(":")
    if kind in ("edit", "correction"):
        rest = rest.rpartition(":")[0]
    return rest


async def current_versions(conn: AsyncConnection, story_ids: Iterable[str]) -> dict[str, tuple[int, bool]]:
    """(version, retracted) of each stored story: what the worker checks once per batch against its cache."""
    ids = list(dict.fromkeys(story_ids))
    found: dict[str, tuple[int, bool]] = {}
    for begin in range(0, len(ids), CHUNK):
        rows = await conn.execute(
            select(stories.c.id, stories.c.version, stories.c.retracted_at).where(
                stories.c.id.in_(ids[begin : begin + CHUNK])
            )
        )
        found.update({story_id: (version, retracted is not None) for story_id, version, retracted in rows})
    return found


# --- corrections -----------------------------------------------------------------------------------------------


async def save_correction(
    conn: AsyncConnection,
    story_id: str,
    *,
    replaces_version: int,
    title: str,
    body: str,
    summary: str,
    url: str | None,
    note: str | None,
    topics: Sequence[str] | None,
    actor: str,
    now: datetime,
) -> bool:
    """Keep the current version in ``story_versions`` and make the new text current (version + 1).

    False when the story is no longer at *replaces_version* (another correction got there first): nothing is
    written. *topics* None keeps the story's topics.
    """
    current = stories.c
    kept = select(
        current.id,
        current.version,
        current.title,
        current.body,
        current.summary,
        current.url,
        current.correction_note,
        literal(actor),
        literal(now, story_versions.c.replaced_at.type),
    ).where(current.id == story_id, current.version == replaces_version)
    columns = ["story_id", "version", "title", "body", "summary", "url", "correction_note", "replaced_by",
               "replaced_at"]  # fmt: skip
    await conn.execute(insert_ignoring_conflicts(conn, story_versions).from_select(columns, kept))
    result = await conn.execute(
        update(stories)
        .where(current.id == story_id, current.version == replaces_version)
        .values(
            title=title,
            body=body,
            summary=summary,
            url=url,
            correction_note=note,
            corrected_at=now,
            version=replaces_version + 1,
        )
    )
    if result.rowcount != 1:
        return False
    if topics is not None:
        await conn.execute(story_topics.delete().where(story_topics.c.story_id == story_id))
        if topics:
            await conn.execute(
                story_topics.insert(),
                [{"story_id": story_id, "topic": t, "position": i} for i, t in enumerate(topics)],
            )
    return True


async def plan_from_sent(
    conn: AsyncConnection,
    story_id: str,
    item_key: str,
    priority: Priority,
    now: datetime,
    *,
    channels: Sequence[str] | None,
    keep_story_id: bool = True,
    sent_since: datetime | None = None,
    sent_before: datetime | None = None,
    only_ids: Sequence[int] | None = None,
) -> dict[str, int]:
    """One *item_key* row per sent delivery of the story (with a provider id) on *channels* (None: all), or only
    of the deliveries *only_ids*; per channel, how many were added (a row already there is left alone)."""
    sent = deliveries.alias("sent")
    where = [
        sent.c.item_key == story_key(story_id),
        sent.c.status == DeliveryStatus.SENT.value,
        sent.c.provider_id.is_not(None),
    ]
    if channels is not None:
        where.append(sent.c.channel.in_(list(channels)))
    if sent_since is not None:
        where.append(sent.c.sent_at >= sent_since)
    if sent_before is not None:
        where.append(sent.c.sent_at < sent_before)
    if only_ids is not None:
        where.append(sent.c.id.in_(list(only_ids)))
    before = await _count_rows(conn, item_key)
    source = select(
        literal(item_key),
        literal(story_id if keep_story_id else None, deliveries.c.story_id.type),
        sent.c.subscriber_id,
        sent.c.channel,
        literal(int(priority)),
        *_pending(deliveries, now),
    ).where(and_(*where), true())
    columns = ["item_key", "story_id", "subscriber_id", "channel", "priority", *_PENDING_COLUMNS]
    await conn.execute(insert_ignoring_conflicts(conn, deliveries).from_select(columns, source))
    after = await _count_rows(conn, item_key)
    return {channel: after.get(channel, 0) - before.get(channel, 0) for channel in after}


#: The columns every outbox row queued by INSERT ... SELECT starts with, given by :func:`_pending`.
_PENDING_COLUMNS = ["status", "attempts", "not_before", "created_at", "updated_at"]


def _pending(table: Table, now: datetime) -> tuple[ColumnElement[Any], ...]:
    """A new row of the outbox *table*: pending, not yet attempted, due and stamped *now*."""
    stamps = (literal(now, table.c[name].type) for name in ("not_before", "created_at", "updated_at"))
    return (literal(DeliveryStatus.PENDING.value), literal(0), *stamps)


async def _count_rows(conn: AsyncConnection, item_key: str) -> dict[str, int]:
    rows = await conn.execute(
        select(deliveries.c.channel, func.count()).where(deliveries.c.item_key == item_key).group_by("channel")
    )
    counts = {channel.value: 0 for channel in ChannelName}
    counts.update({channel: count for channel, count in rows})
    return counts


async def plan_edits(conn: AsyncConnection, story_id: str, version: int, now: datetime) -> int:
    """An edit of every Telegram copy of the story readers got, at breaking priority (fixes overtake the bulk)."""
    added = await plan_from_sent(
        conn, story_id, edit_key(story_id, version), Priority.BREAKING, now, channels=[ChannelName.TELEGRAM.value]
    )
    return sum(added.values())


async def plan_correction_notices(conn: AsyncConnection, story_id: str, version: int, now: datetime) -> dict[str, int]:
    """A short correction message to each reader who got the story, on the channel they got it on."""
    return await plan_from_sent(conn, story_id, correction_key(story_id, version), Priority.NORMAL, now, channels=None)


async def plan_removals(conn: AsyncConnection, story_id: str, cutoff: datetime, now: datetime) -> tuple[int, int]:
    """Delete the Telegram copies sent since *cutoff*, replace older ones with a withdrawal notice; (deleted,
    withdrawn) rows added."""
    telegram = [ChannelName.TELEGRAM.value]
    deleted = await plan_from_sent(
        conn, story_id, delete_key(story_id), Priority.BREAKING, now,
        channels=telegram, keep_story_id=False, sent_since=cutoff,
    )  # fmt: skip
    withdrawn = await plan_from_sent(
        conn, story_id, withdraw_key(story_id), Priority.BREAKING, now,
        channels=telegram, keep_story_id=False, sent_before=cutoff,
    )  # fmt: skip
    return sum(deleted.values()), sum(withdrawn.values())


async def sent_message_ids(
    conn: AsyncConnection, item_key: str, channel: str, subscriber_ids: Iterable[int]
) -> dict[int, str]:
    """The provider's message id of each subscriber's sent *item_key* delivery on *channel*."""
    ids = list(dict.fromkeys(subscriber_ids))
    found: dict[int, str] = {}
    for begin in range(0, len(ids), CHUNK):
        rows = await conn.execute(
            select(deliveries.c.subscriber_id, deliveries.c.provider_id).where(
                deliveries.c.item_key == item_key,
                deliveries.c.channel == channel,
                deliveries.c.status == DeliveryStatus.SENT.value,
                deliveries.c.provider_id.is_not(None),
                deliveries.c.subscriber_id.in_(ids[begin : begin + CHUNK]),
            )
        )
        found.update({subscriber_id: provider_id for subscriber_id, provider_id in rows})
    return found


# --- follow-ups ------------------------------------------------------------------------------------------------


async def plan_follow_up(
    conn: AsyncConnection,
    story_id: str,
    original_id: str,
    *,
    breaking: bool,
    not_before: datetime,
    now: datetime,
    language: str | None = None,
) -> int:
    """Queue a follow-up for every reader who got the story it updates (a sent delivery, any channel), if that
    address is still active and not queued for it already (as a follower of its topics, say), unless the reader
    chose story languages without the follow-up's *language*; rows added."""
    sent = deliveries.alias("sent")
    source = (
        select(
            literal(story_key(story_id)),
            literal(story_id, deliveries.c.story_id.type),
            sent.c.subscriber_id,
            sent.c.channel,
            literal(int(Priority.BREAKING if breaking else Priority.NORMAL)),
            literal(DeliveryStatus.PENDING.value),
            literal(0),
            literal(not_before, deliveries.c.not_before.type),
            literal(now, deliveries.c.created_at.type),
            literal(now, deliveries.c.updated_at.type),
        )
        .select_from(
            sent.join(
                addresses,
                and_(addresses.c.subscriber_id == sent.c.subscriber_id, addresses.c.channel == sent.c.channel),
            )
        )
        .where(
            sent.c.item_key == story_key(original_id),
            sent.c.status == DeliveryStatus.SENT.value,
            addresses.c.status == AddressStatus.ACTIVE.value,
        )
    )
    if language is not None:
        source = source.where(sent.c.subscriber_id.not_in(held_back_from(language)))
    columns = ["item_key", "story_id", "subscriber_id", "channel", "priority", "status", "attempts",
               "not_before", "created_at", "updated_at"]  # fmt: skip
    result = await conn.execute(insert_ignoring_conflicts(conn, deliveries).from_select(columns, source))
    return max(result.rowcount, 0)


# --- social posts ----------------------------------------------------------------------------------------------


async def queue_social_changes(
    conn: AsyncConnection,
    story_id: str,
    kind: str,
    now: datetime,
    *,
    sent_since: datetime | None = None,
    sent_before: datetime | None = None,
) -> int:
    """A *kind* post ("edit:<version>", "delete", "withdraw") for each sent post of the story in the outlet's
    Telegram channels; returns how many were added."""
    sent = social_posts.alias("sent")
    where = [
        sent.c.story_id == story_id,
        sent.c.kind == POST_KIND,
        sent.c.status == DeliveryStatus.SENT.value,
        sent.c.provider_id.is_not(None),
        sent.c.destination.startswith(TELEGRAM_DESTINATION_PREFIX),
    ]
    if sent_since is not None:
        where.append(sent.c.sent_at >= sent_since)
    if sent_before is not None:
        where.append(sent.c.sent_at < sent_before)
    count = (
        select(func.count())
        .select_from(social_posts)
        .where(social_posts.c.story_id == story_id, social_posts.c.kind == kind)
    )
    before = (await conn.execute(count)).scalar_one()
    source = select(
        sent.c.story_id,
        sent.c.destination,
        literal(kind),
        *_pending(social_posts, now),
    ).where(and_(*where), true())
    columns = ["story_id", "destination", "kind", *_PENDING_COLUMNS]
    await conn.execute(insert_ignoring_conflicts(conn, social_posts).from_select(columns, source))
    return (await conn.execute(count)).scalar_one() - before


@dataclass(frozen=True, slots=True)
class SocialChange:
    """A claimed social post that changes a sent one: its kind and the channel message it changes."""

    kind: str
    target: str | None


async def social_change(conn: AsyncConnection, post_id: int) -> SocialChange | None:
    """None for an ordinary post; else what it does and to which sent message (the kind 'post' of its story and
    destination)."""
    post = social_posts.alias("change")
    original = social_posts.alias("original")
    row = (
        await conn.execute(
            select(post.c.kind, original.c.provider_id)
            .select_from(
                post.outerjoin(
                    original,
                    and_(
                        original.c.story_id == post.c.story_id,
                        original.c.destination == post.c.destination,
                        original.c.kind == POST_KIND,
                    ),
                )
            )
            .where(post.c.id == post_id)
        )
    ).one_or_none()
    if row is None or row.kind == POST_KIND:
        return None
    return SocialChange(row.kind, row.provider_id)


# --- retraction ------------------------------------------------------------------------------------------------


async def mark_retracted(conn: AsyncConnection, story_id: str, note: str | None, now: datetime) -> bool:
    """Set retracted_at (the note, if any, becomes the story's note: the withdrawal notice shows it); False when it
    was retracted already."""
    values: dict[str, object] = {"retracted_at": now}
    if note is not None:
        values["correction_note"] = note
    result = await conn.execute(
        update(stories).where(stories.c.id == story_id, stories.c.retracted_at.is_(None)).values(**values)
    )
    return result.rowcount == 1


async def cancel_queued(conn: AsyncConnection, story_id: str, reason: str, now: datetime) -> tuple[int, int]:
    """Cancel the story's deliveries and social posts not yet sent (queued or stopped); (deliveries, posts)."""
    waiting = [DeliveryStatus.PENDING.value, DeliveryStatus.STOPPED.value]
    sent_deliveries = await conn.execute(
        update(deliveries)
        .where(deliveries.c.story_id == story_id, deliveries.c.status.in_(waiting))
        .values(status=DeliveryStatus.CANCELLED.value, last_error=reason, updated_at=now)
    )
    posts = await conn.execute(
        update(social_posts)
        .where(
            social_posts.c.story_id == story_id,
            social_posts.c.status.in_(waiting),
            social_posts.c.kind.not_in(["delete", "withdraw"]),
        )
        .values(status=DeliveryStatus.CANCELLED.value, last_error=reason, updated_at=now)
    )
    return max(sent_deliveries.rowcount, 0), max(posts.rowcount, 0)


# --- reporting -------------------------------------------------------------------------------------------------


async def change_status_counts(conn: AsyncConnection, story_id: str) -> dict[str, dict[str, int]]:
    """The story's edits, correction notices, deletions and withdrawals by status, e.g. {"edit": {"sent": 3}}."""
    counts: dict[str, dict[str, int]] = {kind: {} for kind in CHANGE_KINDS}
    keys = [f"edit:{story_id}:%", f"correction:{story_id}:%"]
    rows = await conn.execute(
        select(deliveries.c.item_key, deliveries.c.status, func.count())
        .where(
            deliveries.c.item_key.like(keys[0])
            | deliveries.c.item_key.like(keys[1])
            | deliveries.c.item_key.in_([delete_key(story_id), withdraw_key(story_id)])
        )
        .group_by(deliveries.c.item_key, deliveries.c.status)
    )
    for item_key, status, count in rows:
        kind = item_key.partition(":")[0]
        if story_id_of(item_key) != story_id:
            continue  # a LIKE match on another id that merely starts the same
        counts[kind][status] = counts[kind].get(status, 0) + count
    return counts


async def change_totals(conn: AsyncConnection) -> dict[str, dict[str, int]]:
    """Every change row in the outbox by kind and status, for ``newsbot status``."""
    kind = func.substr(deliveries.c.item_key, 1, func.instr(deliveries.c.item_key, ":") - 1)
    if conn.dialect.name == "postgresql":
        kind = func.split_part(deliveries.c.item_key, ":", 1)
    rows = await conn.execute(
        select(kind.label("kind"), deliveries.c.status, func.count())
        .where(kind.in_(list(CHANGE_KINDS)))
        .group_by("kind", deliveries.c.status)
    )
    counts: dict[str, dict[str, int]] = {name: {} for name in CHANGE_KINDS}
    for name, status, count in rows:
        counts[name][status] = count
    return counts
