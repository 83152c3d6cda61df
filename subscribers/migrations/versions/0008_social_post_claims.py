"""social posts carry the worker that claimed them"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    # Added in place (no table rebuild): posts left 'sending' have no claimer and go back to the queue at the
    # next sweep, as a dead worker's would.
    op.add_column("social_posts", sa.Column("claimed_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("social_posts") as batch_op:
        batch_op.drop_column("claimed_by")
