"""a story's language, and the languages each reader wants stories in

``stories`` gains ``language`` (NULL for the stories stored before: no filter holds them back) with an index, and
``reader_story_languages`` holds each reader's chosen languages (none: all). A plain ADD COLUMN and a new table,
so SQLite rebuilds nothing.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"


def upgrade() -> None:
    op.add_column("stories", sa.Column("language", sa.String(length=16), nullable=True))
    op.create_index("ix_stories_language", "stories", ["language"])
    op.create_table(
        "reader_story_languages",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name="fk_reader_story_languages_subscriber_id_subscribers",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscriber_id", "language", name="pk_reader_story_languages"),
    )


def downgrade() -> None:
    op.drop_table("reader_story_languages")
    op.drop_index("ix_stories_language", table_name="stories")
    with op.batch_alter_table("stories") as batch:
        batch.drop_column("language")
