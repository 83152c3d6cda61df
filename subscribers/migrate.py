"""Applying the Alembic migrations from code: on start-up, and from `newsbot db upgrade`."""

from __future__ import annotations

from functools import cache

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

SCRIPT_LOCATION = "subscribers:migrations"


def alembic_config(database_url: str | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations (works from an editable install and a wheel)."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if database_url:
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


@cache
def head_revision() -> str:
    """The newest migration shipped with this version of newsbot (read once: finding it loads every script)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def upgrade_database(engine: AsyncEngine, revision: str = "head") -> str | None:
    """Bring the schema to *revision*; returns the revision the database is at afterwards."""
    async with engine.begin() as connection:
        return await connection.run_sync(_upgrade, revision)


def _upgrade(connection: Connection, revision: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    current = MigrationContext.configure(connection).get_current_revision()
    if revision == "head" and current is not None and current == head_revision():
        # Every start-up after the first lands here; Alembic would load every migration script to find nothing to do.
        return current
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
    return MigrationContext.configure(connection).get_current_revision()
