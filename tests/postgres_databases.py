"""Scratch PostgreSQL databases for the test suite, one per test, cloned from a migrated template.

The suite runs against SQLite always and against PostgreSQL when ``NEWSBOT_TEST_POSTGRES_URL`` names a server
(e.g. ``postgresql://postgres@127.0.0.1:5432/test``); without it, the PostgreSQL variants are skipped with that
reason. Cloning a template (``CREATE DATABASE ... TEMPLATE``) is much faster than migrating every database.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy.engine import make_url

from subscribers.database import create_engine
from subscribers.migrate import upgrade_database

#: Read once at import, before fixtures clear every NEWSBOT_* variable to mimic a fresh machine.
POSTGRES_URL = os.environ.get("NEWSBOT_TEST_POSTGRES_URL", "")
SKIP_REASON = "PostgreSQL variant: set NEWSBOT_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)"

_template: str | None = None


def sqlalchemy_url(database: str) -> str:
    """The server of NEWSBOT_TEST_POSTGRES_URL, *database* on it, with the asyncpg driver."""
    url = make_url(POSTGRES_URL).set(drivername="postgresql+asyncpg", database=database)
    return url.render_as_string(hide_password=False)


def _server_dsn() -> str:
    return make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(*statements: str) -> None:
    connection = await asyncpg.connect(_server_dsn())
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def _create_template(name: str) -> None:
    await _admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    engine = create_engine(sqlalchemy_url(name))
    try:
        await upgrade_database(engine)
    finally:
        await engine.dispose()


def template_database() -> str:
    """A migrated database to clone; made once per test run."""
    global _template
    if _template is None:
        name = f"newsbot_template_{os.getpid()}"
        asyncio.run(_create_template(name))
        _template = name
    return _template


def drop_template_database() -> None:
    if _template is not None:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{_template}" WITH (FORCE)'))


@contextmanager
def scratch_database() -> Iterator[str]:
    """A fresh, migrated database for one test; its SQLAlchemy URL. Dropped afterwards."""
    template = template_database()
    name = f"newsbot_test_{uuid.uuid4().hex[:16]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield sqlalchemy_url(name)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def empty_database() -> Iterator[str]:
    """A fresh database with no tables at all (for tests that migrate step by step); dropped afterwards."""
    name = f"newsbot_empty_{uuid.uuid4().hex[:16]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield sqlalchemy_url(name)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
