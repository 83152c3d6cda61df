"""the claim index leads with the channel: each channel's due rows are claimed on their own, most urgent first"""

from alembic import op

revision = "0013"
down_revision = "0012"

_OLD = "ix_deliveries_status_priority_not_before_id"
_NEW = "ix_deliveries_status_channel_priority_not_before_id"


def upgrade() -> None:
    op.create_index(_NEW, "deliveries", ["status", "channel", "priority", "not_before", "id"])
    op.drop_index(_OLD, table_name="deliveries")


def downgrade() -> None:
    op.create_index(_OLD, "deliveries", ["status", "priority", "not_before", "id"])
    op.drop_index(_NEW, table_name="deliveries")
