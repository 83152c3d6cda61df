"""Applying the Alembic migrations from code: on start-up, and from `newsbot db upgrade`.

Every start-up after the first finds the store already current. That case is told apart with one query and the
revision lines of the shipped scripts, without importing Alembic (a fifth of a short command's start-up) or
loading the scripts; Alembic runs only when there is something to do.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPT_LOCATION = "subscribers:migrations"
VERSIONS = Path(__file__).with_name("migrations") / "versions"
#: Alembic's own table of the revision a store is at (its default name, which env.py keeps).
VERSION_TABLE = "alembic_version"
_REVISION_LINE = re.compile(r"^(down_revision|revision) = (?:\"([^\"]*)\"|'([^']*)'|None)\s*$", re.MULTILINE)


def alembic_config(database_url: str | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations (works from an editable install and a wheel)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if database_url:
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


@cache
def head_revision() -> str:
    """The newest migration shipped with this version of newsbot: the one revision no other script follows.

    Read from each script's ``revision = ...`` and ``down_revision = ...`` lines, not by loading the scripts;
    ``tests/test_store.py`` checks that Alembic finds the same head. A layout this cannot read unambiguously
    (a merge, a branch) falls back to Alembic's own answer.
    """
    revisions: set[str] = set()
    followed: set[str] = set()
    for script in VERSIONS.glob("*.py"):
        found = {name: value or other for name, value, other in _REVISION_LINE.findall(script.read_text("utf-8"))}
        if "revision" not in found:
            return _alembic_head()
        revisions.add(found["revision"])
        if found.get("down_revision"):
            followed.add(found["down_revision"])
    heads = revisions - followed
    return heads.pop() if len(heads) == 1 else _alembic_head()


def _alembic_head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def upgrade_database(engine: AsyncEngine, revision: str = "head") -> str | None:
    """Bring the schema to *revision*; returns the revision the database is at afterwards."""
    async with engine.begin() as connection:
        return await connection.run_sync(_upgrade, revision)


def current_revision(connection: Connection) -> str | None:
    """The revision the store is at (None: never migrated), read straight from Alembic's version table."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    found = connection.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").scalars().all()
    return found[0] if len(found) == 1 else None


def _upgrade(connection: Connection, revision: str) -> str | None:
    if revision == "head" and (current := current_revision(connection)) is not None and current == head_revision():
        return current
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
    return MigrationContext.configure(connection).get_current_revision()
