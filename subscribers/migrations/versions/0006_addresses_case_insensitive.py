"""addresses unique case-insensitively: email_key column, existing duplicates merged first

``Jane.Doe@Example.ORG`` and ``jane.doe@example.org`` used to be two readers. This adds ``addresses.email_key``
(the address lower-cased, as ``subscribers/email_keys.py`` computes it), merges the readers whose addresses
share a key, then makes the key unique. Merging keeps the oldest subscriber and, for the address: the spelling
typed first, the most advanced status (active, then pending, inactive, bounced) with that address's cadence and
breaking-news choice, the earliest confirmation; the follows are united. The other subscribers' deliveries move
to the one kept, except where it already has the same item on that channel (a sent copy wins over one still to
send, so nobody gets a story twice). A merged-away subscriber whose Telegram chat cannot move (the one kept has a
chat of its own) stays, with its chat and follows but without the email address; any other is deleted. Everything
is done in place: the addresses table is not rebuilt (foreign keys are on: a rebuild would cascade-delete every
follow and delivery).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

revision = "0006"
down_revision = "0005"

# The tables as this revision sees them (not subscribers.schema: a migration must not change with the code).
_subscribers = sa.table("subscribers", sa.column("id", sa.Integer), sa.column("created_at", sa.DateTime(timezone=True)))
_addresses = sa.table(
    "addresses",
    sa.column("id", sa.Integer),
    sa.column("subscriber_id", sa.Integer),
    sa.column("channel", sa.String),
    sa.column("address", sa.String),
    sa.column("cadence", sa.String),
    sa.column("status", sa.String),
    sa.column("breaking_email", sa.Boolean),
    sa.column("bounce_count", sa.Integer),
    sa.column("confirmed_at", sa.DateTime(timezone=True)),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("email_key", sa.String),
)
_follows = sa.table(
    "follows", sa.column("subscriber_id", sa.Integer), sa.column("topic", sa.String), sa.column("created_at")
)
_deliveries = sa.table(
    "deliveries",
    sa.column("id", sa.Integer),
    sa.column("item_key", sa.String),
    sa.column("subscriber_id", sa.Integer),
    sa.column("channel", sa.String),
    sa.column("status", sa.String),
)

#: Which status wins when two spellings of one address are merged.
_STATUS_RANK = {"active": 3, "pending": 2, "inactive": 1, "bounced": 0}


def _email_key(address: str) -> str:
    """subscribers.email_keys.email_key at this revision."""
    return address.lower()


def upgrade() -> None:
    # In place (ALTER TABLE ... ADD COLUMN on SQLite too).
    op.add_column("addresses", sa.Column("email_key", sa.String(length=320), nullable=True))
    conn = op.get_bind()
    _fill_keys(conn)
    for (key,) in list(
        conn.execute(
            sa.select(_addresses.c.email_key)
            .where(_addresses.c.channel == "email")
            .group_by(_addresses.c.email_key)
            .having(sa.func.count() > 1)
        )
    ):
        _merge(conn, key)
    op.create_index(op.f("ix_addresses_email_key"), "addresses", ["email_key"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_addresses_email_key"), table_name="addresses")
    with op.batch_alter_table("addresses", schema=None) as batch_op:
        batch_op.drop_column("email_key")


def _fill_keys(conn: Connection) -> None:
    """lower() in SQL for the bulk; then Python's key wherever the database folded differently (non-ASCII)."""
    email = _addresses.c.channel == "email"
    conn.execute(sa.update(_addresses).where(email).values(email_key=sa.func.lower(_addresses.c.address)))
    fixes = [
        {"b_id": row.id, "b_key": _email_key(row.address)}
        for row in conn.execute(sa.select(_addresses.c.id, _addresses.c.address, _addresses.c.email_key).where(email))
        if row.email_key != _email_key(row.address)
    ]
    if fixes:
        by_id = sa.update(_addresses).where(_addresses.c.id == sa.bindparam("b_id"))
        conn.execute(by_id.values(email_key=sa.bindparam("b_key")), fixes)


def _merge(conn: Connection, key: str) -> None:
    """Make the readers whose email address has *key* one reader (see the module docstring)."""
    rows = list(
        conn.execute(
            sa.select(_addresses, _subscribers.c.created_at.label("subscriber_created_at"))
            .join(_subscribers, _subscribers.c.id == _addresses.c.subscriber_id)
            .where(_addresses.c.channel == "email", _addresses.c.email_key == key)
            .order_by(_subscribers.c.created_at, _subscribers.c.id)
        )
    )
    kept, others = rows[0], rows[1:]
    first_typed = min(rows, key=lambda r: (r.created_at, r.id))
    best = max(rows, key=lambda r: (_STATUS_RANK.get(r.status, -1), -rows.index(r)))
    confirmations = [r.confirmed_at for r in rows if r.confirmed_at is not None]
    keeper = kept.subscriber_id
    kept_channels = set(
        conn.execute(sa.select(_addresses.c.channel).where(_addresses.c.subscriber_id == keeper)).scalars()
    )
    for other in others:
        sid = other.subscriber_id
        _unite_follows(conn, keeper, sid)
        conn.execute(sa.delete(_addresses).where(_addresses.c.id == other.id))
        _move_deliveries(conn, keeper, sid, "email")
        for address_id, channel in list(
            conn.execute(sa.select(_addresses.c.id, _addresses.c.channel).where(_addresses.c.subscriber_id == sid))
        ):
            if channel in kept_channels:
                continue  # the kept reader has its own chat: this one stays a reader of its own
            conn.execute(sa.update(_addresses).where(_addresses.c.id == address_id).values(subscriber_id=keeper))
            _move_deliveries(conn, keeper, sid, channel)
            kept_channels.add(channel)
        left = conn.execute(
            sa.select(sa.func.count()).select_from(_addresses).where(_addresses.c.subscriber_id == sid)
        ).scalar_one()
        if not left:
            # Its follows are united and its deliveries moved; what is left duplicated the kept reader's.
            conn.execute(sa.delete(_deliveries).where(_deliveries.c.subscriber_id == sid))
            conn.execute(sa.delete(_follows).where(_follows.c.subscriber_id == sid))
            conn.execute(sa.delete(_subscribers).where(_subscribers.c.id == sid))
    conn.execute(
        sa.update(_addresses)
        .where(_addresses.c.id == kept.id)
        .values(
            address=first_typed.address,
            status=best.status,
            cadence=best.cadence,
            breaking_email=best.breaking_email,
            bounce_count=best.bounce_count,
            confirmed_at=min(confirmations) if confirmations else None,
        )
    )


def _unite_follows(conn: Connection, keeper: int, other: int) -> None:
    already = sa.select(_follows.c.topic).where(_follows.c.subscriber_id == keeper)
    conn.execute(
        sa.insert(_follows).from_select(
            ["subscriber_id", "topic", "created_at"],
            sa.select(sa.literal(keeper), _follows.c.topic, _follows.c.created_at).where(
                _follows.c.subscriber_id == other, _follows.c.topic.not_in(already)
            ),
        )
    )


def _move_deliveries(conn: Connection, keeper: int, other: int, channel: str) -> None:
    """Give *other*'s deliveries on *channel* to *keeper*, keeping (item, subscriber, channel) unique."""

    def items(subscriber_id: int, statuses: Sequence[str] | None = None) -> Any:
        query = sa.select(_deliveries.c.item_key).where(
            _deliveries.c.subscriber_id == subscriber_id, _deliveries.c.channel == channel
        )
        return query if statuses is None else query.where(_deliveries.c.status.in_(statuses))

    mine = (_deliveries.c.subscriber_id == keeper, _deliveries.c.channel == channel)
    theirs = (_deliveries.c.subscriber_id == other, _deliveries.c.channel == channel)
    # Where the other copy was sent and the kept one was not, the sent one is the truth: keep that.
    conn.execute(
        sa.delete(_deliveries).where(
            *mine, _deliveries.c.status != "sent", _deliveries.c.item_key.in_(items(other, ["sent"]))
        )
    )
    conn.execute(sa.delete(_deliveries).where(*theirs, _deliveries.c.item_key.in_(items(keeper))))
    conn.execute(sa.update(_deliveries).where(*theirs).values(subscriber_id=keeper))
