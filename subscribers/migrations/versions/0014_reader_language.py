"""A reader's language: ``subscribers`` gains ``language``, nullable (readers stored before speak the outlet's
default until they choose)."""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    op.add_column("subscribers", sa.Column("language", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("language")
