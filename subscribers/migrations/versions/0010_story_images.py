"""A story's picture: ``stories`` gains ``image_url`` and ``image_alt``, nullable, in place (stories stored before
have none)."""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.add_column("stories", sa.Column("image_url", sa.Text(), nullable=True))
    op.add_column("stories", sa.Column("image_alt", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stories") as batch:
        batch.drop_column("image_alt")
        batch.drop_column("image_url")
