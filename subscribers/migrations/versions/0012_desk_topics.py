"""topics and social destinations edited on the desk, and the version counter every process refreshes them by"""

import sqlalchemy as sa
from alembic import op

from subscribers.migrations.table_parts import primary_key

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    op.create_table(
        "desk_topics",
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("keywords", sa.Text(), nullable=False),
        sa.Column("aliases", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        primary_key("desk_topics", "slug"),
    )
    op.create_table(
        "social_destinations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("topics", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        primary_key("social_destinations", "id"),
    )
    op.create_index(op.f("ix_social_destinations_key"), "social_destinations", ["key"], unique=True)
    op.create_table(
        "topic_settings_versions",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        primary_key("topic_settings_versions", "name"),
    )


def downgrade() -> None:
    op.drop_table("topic_settings_versions")
    op.drop_index(op.f("ix_social_destinations_key"), table_name="social_destinations")
    op.drop_table("social_destinations")
    op.drop_table("desk_topics")
