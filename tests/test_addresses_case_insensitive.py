"""Migration 0006: readers whose email addresses differ only in case become one reader, then the key is unique."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from subscribers.database import create_engine
from subscribers.migrate import head_revision, upgrade_database
from subscribers.schema import UtcDateTime, addresses, deliveries, follows, subscribers

# The tables as revision 0005 has them (without email_key), for filling an old store.
_old_subscribers = sa.table("subscribers", sa.column("id", sa.Integer), sa.column("created_at", UtcDateTime))
_old_addresses = sa.table(
    "addresses",
    *(sa.column(name) for name in ("id", "subscriber_id", "channel", "address", "cadence", "status", "bounce_count")),
    sa.column("breaking_email", sa.Boolean),
    sa.column("confirmed_at", UtcDateTime),
    sa.column("created_at", UtcDateTime),
    sa.column("updated_at", UtcDateTime),
)
_old_follows = sa.table("follows", sa.column("subscriber_id"), sa.column("topic"), sa.column("created_at", UtcDateTime))
_old_stories = sa.table(
    "stories", *(sa.column(n) for n in ("id", "title", "body", "summary")), sa.column("breaking", sa.Boolean),
    sa.column("created_at", UtcDateTime),
)
_old_deliveries = sa.table(
    "deliveries",
    *(sa.column(n) for n in ("item_key", "story_id", "subscriber_id", "channel", "priority", "status", "attempts")),
    sa.column("not_before", UtcDateTime),
    sa.column("created_at", UtcDateTime),
    sa.column("updated_at", UtcDateTime),
)


def day(month: int, d: int = 1) -> datetime:
    return datetime(2026, month, d, tzinfo=UTC)


def address(id_: int, subscriber: int, channel: str, value: str, status: str, created: datetime, *,
            cadence: str = "weekly", confirmed: datetime | None = None, breaking: bool = False) -> dict[str, object]:
    return {"id": id_, "subscriber_id": subscriber, "channel": channel, "address": value, "cadence": cadence,
            "status": status, "bounce_count": 0, "breaking_email": breaking, "confirmed_at": confirmed,
            "created_at": created, "updated_at": created}


def delivery(subscriber: int, channel: str, story: str, status: str) -> dict[str, object]:
    now = day(6)
    return {"item_key": f"story:{story}", "story_id": story, "subscriber_id": subscriber, "channel": channel,
            "priority": 10, "status": status, "attempts": 1 if status != "pending" else 0, "not_before": now,
            "created_at": now, "updated_at": now}


async def fill_old_store(conn: sa.ext.asyncio.AsyncConnection) -> None:
    await conn.execute(_old_subscribers.insert(), [
        {"id": 1, "created_at": day(1)},  # Jane, first: keeps everything
        {"id": 2, "created_at": day(2)},  # jane, confirmed, instant
        {"id": 3, "created_at": day(3)},  # JANE, bounced (but confirmed earliest)
        {"id": 4, "created_at": day(4)},  # someone else entirely
        {"id": 5, "created_at": day(5)},  # a chat of its own, plus an unsubscribed spelling of Jane's address
        {"id": 6, "created_at": day(1)},  # solo@, no chat
        {"id": 7, "created_at": day(2)},  # SOLO@ with a chat: the chat moves to 6
    ])
    await conn.execute(_old_addresses.insert(), [
        address(1, 1, "email", "Jane.Doe@Example.ORG", "pending", day(1)),
        address(2, 1, "telegram", "100", "active", day(1), cadence="instant"),
        address(3, 2, "email", "jane.doe@example.org", "active", day(2), cadence="instant", confirmed=day(2, 2),
                breaking=True),
        address(4, 3, "email", "JANE.DOE@EXAMPLE.ORG", "bounced", day(3), confirmed=day(1, 15)),
        address(5, 4, "email", "other@example.org", "active", day(4), confirmed=day(4)),
        address(6, 5, "telegram", "500", "active", day(5), cadence="instant"),
        address(7, 5, "email", "jane.DOE@example.org", "inactive", day(5), confirmed=day(5)),
        address(8, 6, "email", "solo@example.org", "pending", day(1)),
        address(9, 7, "email", "SOLO@example.org", "pending", day(2)),
        address(10, 7, "telegram", "700", "active", day(2), cadence="instant"),
    ])
    await conn.execute(_old_follows.insert(), [
        {"subscriber_id": s, "topic": t, "created_at": day(6)}
        for s, t in [(1, "local"), (2, "sports"), (2, "local"), (3, "weather"), (4, "tech"), (5, "culture"),
                     (6, "science"), (7, "health")]
    ])
    await conn.execute(_old_stories.insert(), [
        {"id": s, "title": "t", "body": "b", "summary": "s", "breaking": False, "created_at": day(6)}
        for s in ("s1", "s2", "s3")
    ])
    await conn.execute(_old_deliveries.insert(), [
        delivery(1, "email", "s1", "pending"),  # 2 already got s1 by email: this one must not go out too
        delivery(2, "email", "s1", "sent"),
        delivery(2, "email", "s2", "pending"),  # moves to 1
        delivery(3, "email", "s2", "failed"),  # duplicates the one moved from 2: dropped
        delivery(1, "telegram", "s1", "sent"),
        delivery(5, "telegram", "s1", "pending"),  # chat 500 stays its own reader
        delivery(7, "telegram", "s3", "sent"),  # moves to 6 with chat 700
        delivery(4, "email", "s3", "pending"),
    ])


async def test_upgrading_merges_readers_whose_addresses_differ_only_in_case(empty_store_url: str) -> None:
    engine = create_engine(empty_store_url)
    try:
        await upgrade_database(engine, "0005")
        async with engine.begin() as conn:
            await fill_old_store(conn)
        assert await upgrade_database(engine) == head_revision()

        async with engine.connect() as conn:
            remaining = set((await conn.execute(sa.select(subscribers.c.id))).scalars())
            rows = {
                (r.subscriber_id, r.channel): r
                for r in await conn.execute(sa.select(addresses).order_by(addresses.c.id))
            }
            followed: dict[int, set[str]] = {}
            for r in await conn.execute(sa.select(follows)):
                followed.setdefault(r.subscriber_id, set()).add(r.topic)
            queued = {
                (r.subscriber_id, r.channel, r.item_key): r.status for r in await conn.execute(sa.select(deliveries))
            }

        assert remaining == {1, 4, 5, 6}
        jane = rows[(1, "email")]
        assert jane.address == "Jane.Doe@Example.ORG"  # the spelling typed first
        assert jane.email_key == "jane.doe@example.org"
        assert (jane.status, jane.cadence, jane.breaking_email) == ("active", "instant", True)  # the active one's
        assert jane.confirmed_at == day(1, 15)  # the earliest confirmation
        assert set(rows) == {(1, "email"), (1, "telegram"), (4, "email"), (5, "telegram"), (6, "email"),
                             (6, "telegram")}
        assert rows[(6, "email")].address == "solo@example.org" and rows[(6, "telegram")].address == "700"
        assert followed == {1: {"local", "sports", "weather", "culture"}, 4: {"tech"}, 5: {"culture"},
                            6: {"science", "health"}}
        assert queued == {
            (1, "email", "story:s1"): "sent",
            (1, "email", "story:s2"): "pending",
            (1, "telegram", "story:s1"): "sent",
            (5, "telegram", "story:s1"): "pending",
            (6, "telegram", "story:s3"): "sent",
            (4, "email", "story:s3"): "pending",
        }

        # From now on the store itself refuses a second spelling of an address on file.
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(addresses.insert().values(
                    subscriber_id=4, channel="telegram", address="9", cadence="instant", status="active",
                    created_at=day(7), updated_at=day(7),
                ))  # a chat: no key, accepted
                await conn.execute(subscribers.insert().values(id=50, created_at=day(7)))
                await conn.execute(addresses.insert().values(
                    subscriber_id=50, channel="email", address="OTHER@example.org", cadence="weekly",
                    status="pending", created_at=day(7), updated_at=day(7),
                ))
    finally:
        await engine.dispose()
