"""editor accounts for the desk on the web, and their one-time sign-in links (kept as token hashes)"""

import sqlalchemy as sa
from alembic import op

from subscribers.migrations.table_parts import primary_key, references

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    op.create_table(
        "editor_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_key", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("telegram_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("session_generation", sa.Integer(), nullable=False),
        sa.Column("sessions_valid_after", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('editor', 'admin')", name=op.f("ck_editor_accounts_role")),
        primary_key("editor_accounts", "id"),
    )
    op.create_index(op.f("ix_editor_accounts_email_key"), "editor_accounts", ["email_key"], unique=True)
    op.create_index(op.f("ix_editor_accounts_telegram_id"), "editor_accounts", ["telegram_id"], unique=True)
    op.create_table(
        "login_links",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        references("login_links", "account_id", "editor_accounts"),
        primary_key("login_links", "token_hash"),
    )
    op.create_index(op.f("ix_login_links_expires_at"), "login_links", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_table("login_links")
    op.drop_table("editor_accounts")
