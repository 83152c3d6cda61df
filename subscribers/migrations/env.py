"""Alembic environment: runs on the connection newsbot hands over, or on a URL for the plain `alembic` CLI."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from subscribers.database import create_engine
from subscribers.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table, elsewhere it is a no-op.
        # Careful: migrations run with foreign keys ON (SQLite ignores the pragma inside a transaction), so a
        # table rebuild of a referenced table would cascade-delete its children. Prefer operations SQLite does
        # in place (add column, create index); tests/test_store.py upgrades a populated store to catch this.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_on_url(url: str) -> None:
    engine = create_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_on_url(context.config.get_main_option("sqlalchemy.url")))
