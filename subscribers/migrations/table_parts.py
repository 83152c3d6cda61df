"""Columns and constraints that several migrations build alike, so that each migration shows only its own part.

What a released migration does to a database never changes: a helper here that one already uses keeps building
exactly that; a different shape is a new helper.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op


def references(table: str, column: str, target: str, *, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    """*table*'s *column* holds an id of *target*: its row goes with that row unless *ondelete* says otherwise."""
    name = op.f(f"fk_{table}_{column}_{target}")
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=name, ondelete=ondelete)


def primary_key(table: str, *columns: str) -> sa.PrimaryKeyConstraint:
    """*table*'s primary key over *columns*, named as the schema's naming convention names it."""
    return sa.PrimaryKeyConstraint(*columns, name=op.f(f"pk_{table}"))


def outbox_columns() -> list[sa.Column[Any]]:
    """How far sending one outbox row (a delivery, a social post) has got: status, attempts, error and times."""
    moment = sa.DateTime(timezone=True)
    return [
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("provider_id", sa.Text(), nullable=True),
        sa.Column("not_before", moment, nullable=False),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("updated_at", moment, nullable=False),
        sa.Column("sent_at", moment, nullable=True),
    ]


def story_text_columns() -> list[sa.Column[Any]]:
    """A story's text as readers get it: kept on the story and, once corrected, for each earlier version."""
    return [
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
    ]
