"""initial schema: subscribers, addresses, follows, stories, deliveries"""

import sqlalchemy as sa
from alembic import op

from subscribers.migrations.table_parts import outbox_columns, primary_key, references, story_text_columns

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "stories",
        sa.Column("id", sa.String(length=200), nullable=False),
        *story_text_columns(),
        sa.Column("breaking", sa.Boolean(), nullable=False),
        sa.Column("author", sa.Text(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        primary_key("stories", "id"),
    )
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        primary_key("subscribers", "id"),
    )
    op.create_table(
        "addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("cadence", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("breaking_email", sa.Boolean(), nullable=False),
        sa.Column("bounce_count", sa.Integer(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("cadence IN ('instant', 'weekly', 'off')", name=op.f("ck_addresses_cadence")),
        sa.CheckConstraint("channel IN ('telegram', 'email')", name=op.f("ck_addresses_channel")),
        sa.CheckConstraint("status IN ('pending', 'active', 'inactive', 'bounced')", name=op.f("ck_addresses_status")),
        references("addresses", "subscriber_id", "subscribers"),
        primary_key("addresses", "id"),
        sa.UniqueConstraint("channel", "address", name=op.f("uq_addresses_channel_address")),
        sa.UniqueConstraint("subscriber_id", "channel", name=op.f("uq_addresses_subscriber_id_channel")),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_key", sa.String(length=220), nullable=False),
        sa.Column("story_id", sa.String(length=200), nullable=True),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        *outbox_columns(),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')",
            name=op.f("ck_deliveries_status"),
        ),
        references("deliveries", "story_id", "stories"),
        references("deliveries", "subscriber_id", "subscribers"),
        primary_key("deliveries", "id"),
        sa.UniqueConstraint(
            "item_key", "subscriber_id", "channel", name=op.f("uq_deliveries_item_key_subscriber_id_channel")
        ),
    )
    op.create_index(
        op.f("ix_deliveries_status_priority_not_before_id"),
        "deliveries",
        ["status", "priority", "not_before", "id"],
    )
    op.create_index(op.f("ix_deliveries_story_id_status"), "deliveries", ["story_id", "status"])

    op.create_table(
        "follows",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        references("follows", "subscriber_id", "subscribers"),
        primary_key("follows", "subscriber_id", "topic"),
    )
    op.create_index(op.f("ix_follows_topic_subscriber_id"), "follows", ["topic", "subscriber_id"])

    op.create_table(
        "story_topics",
        sa.Column("story_id", sa.String(length=200), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        references("story_topics", "story_id", "stories"),
        primary_key("story_topics", "story_id", "topic"),
    )
    op.create_index(op.f("ix_story_topics_topic"), "story_topics", ["topic"])


def downgrade() -> None:
    op.drop_index(op.f("ix_story_topics_topic"), "story_topics")

    op.drop_table("story_topics")
    op.drop_index(op.f("ix_follows_topic_subscriber_id"), "follows")

    op.drop_table("follows")
    op.drop_index(op.f("ix_deliveries_story_id_status"), "deliveries")
    op.drop_index(op.f("ix_deliveries_status_priority_not_before_id"), "deliveries")

    op.drop_table("deliveries")
    op.drop_table("addresses")
    op.drop_table("subscribers")
    op.drop_table("stories")
