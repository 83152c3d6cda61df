"""initial schema: subscribers, addresses, follows, stories, deliveries"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "stories",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("breaking", sa.Boolean(), nullable=False),
        sa.Column("author", sa.Text(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stories")),
    )
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscribers")),
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
        sa.CheckConstraint(
            "status IN ('pending', 'active', 'inactive', 'bounced')", name=op.f("ck_addresses_status")
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_addresses_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_addresses")),
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
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("provider_id", sa.Text(), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')",
            name=op.f("ck_deliveries_status"),
        ),
        sa.ForeignKeyConstraint(
            ["story_id"], ["stories.id"], name=op.f("fk_deliveries_story_id_stories"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_deliveries_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
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
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_follows_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscriber_id", "topic", name=op.f("pk_follows")),
    )
    op.create_index(op.f("ix_follows_topic_subscriber_id"), "follows", ["topic", "subscriber_id"])

    op.create_table(
        "story_topics",
        sa.Column("story_id", sa.String(length=200), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["story_id"], ["stories.id"], name=op.f("fk_story_topics_story_id_stories"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("story_id", "topic", name=op.f("pk_story_topics")),
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
