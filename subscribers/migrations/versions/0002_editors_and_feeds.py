"""chat types, story sources, audit log, social posts, feeds"""

import sqlalchemy as sa
from alembic import op

from subscribers.migrations.table_parts import outbox_columns, primary_key, references

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("subject", sa.String(length=220), nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        primary_key("audit_log", "id"),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)

    op.create_table(
        "feeds",
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("last_polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        primary_key("feeds", "url"),
    )
    op.create_table(
        "feed_entries",
        sa.Column("feed_url", sa.String(length=2000), nullable=False),
        sa.Column("entry_key", sa.String(length=2000), nullable=False),
        sa.Column("story_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        references("feed_entries", "story_id", "stories", ondelete="SET NULL"),
        primary_key("feed_entries", "feed_url", "entry_key"),
    )
    op.create_table(
        "social_posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("story_id", sa.String(length=200), nullable=False),
        sa.Column("destination", sa.String(length=300), nullable=False),
        *outbox_columns(),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')", name=op.f("ck_social_posts_status")
        ),
        references("social_posts", "story_id", "stories"),
        primary_key("social_posts", "id"),
        sa.UniqueConstraint("story_id", "destination", name=op.f("uq_social_posts_story_id_destination")),
    )
    with op.batch_alter_table("social_posts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_social_posts_status_not_before"), ["status", "not_before"], unique=False)

    with op.batch_alter_table("addresses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chat_type", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("confirmation_sent_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("stories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("external_id", sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f("ix_stories_external_id"), ["external_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("stories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stories_external_id"))
        batch_op.drop_column("external_id")
        batch_op.drop_column("source")

    with op.batch_alter_table("addresses", schema=None) as batch_op:
        batch_op.drop_column("confirmation_sent_at")
        batch_op.drop_column("chat_type")

    with op.batch_alter_table("social_posts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_social_posts_status_not_before"))

    op.drop_table("social_posts")
    op.drop_table("feed_entries")
    op.drop_table("feeds")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))

    op.drop_table("audit_log")
