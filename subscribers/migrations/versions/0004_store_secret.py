"""store secret (signing key kept in the store), confirmation nonces, request counts for rate limits"""

import sqlalchemy as sa
from alembic import op

from subscribers.migrations.table_parts import primary_key

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "store_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        primary_key("store_secrets", "name"),
    )
    op.create_table(
        "request_counts",
        sa.Column("bucket", sa.String(length=120), nullable=False),
        sa.Column("window_start", sa.Integer(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        primary_key("request_counts", "bucket", "window_start"),
    )
    # In place (ALTER TABLE ... ADD COLUMN on SQLite too): rebuilding addresses would cascade deletes.
    op.add_column("addresses", sa.Column("confirmation_nonce", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("addresses", schema=None) as batch_op:
        batch_op.drop_column("confirmation_nonce")
    op.drop_table("request_counts")
    op.drop_table("store_secrets")
