"""A story's life after intake: embargo, versions, follow-ups, stop and retraction.

``stories`` gains columns in place (the table is referenced by deliveries and cannot be rebuilt). Deliveries and
social posts may now be ``stopped``, and a social post has a ``kind`` (the post itself, or an edit or deletion of
it): both tables are rebuilt on SQLite to change their constraints, which is safe because nothing references
them.
"""

import sqlalchemy as sa
from alembic import op

from subscribers.migrations.table_parts import primary_key, references, story_text_columns

revision = "0009"
down_revision = "0008"

_UTC = sa.DateTime(timezone=True)
_OLD_STATUSES = "status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')"
_NEW_STATUSES = "status IN ('pending', 'sending', 'sent', 'failed', 'cancelled', 'stopped')"


def upgrade() -> None:
    op.add_column("stories", sa.Column("publish_at", _UTC, nullable=True))
    op.add_column("stories", sa.Column("updates_story_id", sa.String(200), nullable=True))
    op.add_column("stories", sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    op.add_column("stories", sa.Column("correction_note", sa.Text(), nullable=True))
    op.add_column("stories", sa.Column("corrected_at", _UTC, nullable=True))
    op.add_column("stories", sa.Column("stopped_at", _UTC, nullable=True))
    op.add_column("stories", sa.Column("retracted_at", _UTC, nullable=True))
    op.create_table(
        "story_versions",
        sa.Column("story_id", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        *story_text_columns(),
        sa.Column("correction_note", sa.Text(), nullable=True),
        sa.Column("replaced_by", sa.String(100), nullable=True),
        sa.Column("replaced_at", _UTC, nullable=False),
        references("story_versions", "story_id", "stories"),
        primary_key("story_versions", "story_id", "version"),
    )
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_constraint(op.f("ck_deliveries_status"), type_="check")
        batch_op.create_check_constraint("status", _NEW_STATUSES)
    with op.batch_alter_table("social_posts") as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(40), nullable=False, server_default="post"))
        batch_op.drop_constraint(op.f("uq_social_posts_story_id_destination"), type_="unique")
        batch_op.create_unique_constraint(
            op.f("uq_social_posts_story_id_destination_kind"), ["story_id", "destination", "kind"]
        )
        batch_op.drop_constraint(op.f("ck_social_posts_status"), type_="check")
        batch_op.create_check_constraint("status", _NEW_STATUSES)


def downgrade() -> None:
    with op.batch_alter_table("social_posts") as batch_op:
        batch_op.drop_constraint(op.f("ck_social_posts_status"), type_="check")
        batch_op.create_check_constraint("status", _OLD_STATUSES)
        batch_op.drop_constraint(op.f("uq_social_posts_story_id_destination_kind"), type_="unique")
        batch_op.create_unique_constraint(op.f("uq_social_posts_story_id_destination"), ["story_id", "destination"])
        batch_op.drop_column("kind")
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_constraint(op.f("ck_deliveries_status"), type_="check")
        batch_op.create_check_constraint("status", _OLD_STATUSES)
    op.drop_table("story_versions")
    # Dropped in place (SQLite 3.35+): a rebuild of stories would cascade-delete its deliveries.
    for column in ("retracted_at", "stopped_at", "corrected_at", "correction_note", "version"):
        op.drop_column("stories", column)
    op.drop_column("stories", "updates_story_id")
    op.drop_column("stories", "publish_at")
