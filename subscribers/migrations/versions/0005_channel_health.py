"""channel health (paused, unreachable channels)"""

import sqlalchemy as sa
from alembic import op

from subscribers.migrations.table_parts import primary_key

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "channel_health",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("unreachable_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("failed_probes", sa.Integer(), nullable=False),
        sa.Column("next_probe_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("probe_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        primary_key("channel_health", "channel"),
    )


def downgrade() -> None:
    op.drop_table("channel_health")
