"""each reader's own time: a time zone (NULL: the outlet's) and quiet hours, and whether breaking news waits them out

Plain ADD COLUMNs (no batch copy on SQLite, which would drop the table and cascade to its rows' deliveries).
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"

_COLUMNS = ("timezone", "quiet_from", "quiet_until", "quiet_holds_breaking")


def upgrade() -> None:
    op.add_column("subscribers", sa.Column("timezone", sa.String(length=64), nullable=True))
    op.add_column("subscribers", sa.Column("quiet_from", sa.Integer(), nullable=True))
    op.add_column("subscribers", sa.Column("quiet_until", sa.Integer(), nullable=True))
    op.add_column(
        "subscribers", sa.Column("quiet_holds_breaking", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
