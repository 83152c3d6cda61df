"""Opening the store: engine creation, per-backend connection settings and automatic migration.

This is the dialect layer: everything that differs between SQLite and PostgreSQL lives here, so the rest
of the code changes backend by changing only ``NEWSBOT_DATABASE_URL``. It also holds the few pieces every query
module shares: reserved ids, inserts that ignore conflicts, the chunk size for long IN lists, a column list
built from a dataclass (and a table's rows read as that dataclass), and the health check's ping.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Column, ColumnElement, Row, Table, event, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.dml import Insert

from subscribers.errors import StoreError

#: Execution option marking connections that only read (see :func:`read_only`).
READ_ONLY_OPTION = "newsbot_read_only"
#: Drivers the store is written for; any other URL scheme is refused before anything is imported.
SUPPORTED_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
URL_EXAMPLES = "sqlite+aiosqlite:///data/newsbot.sqlite3 or postgresql+asyncpg://user@host/database"
#: Rows or ids per statement in IN lists and multi-row VALUES: SQLite allows 32,766 bound parameters per statement.
CHUNK = 500
V = TypeVar("V")

# aiosqlite logs every cursor call twice at DEBUG, with the statement's parameters (readers' addresses among them):
# a debugging session would drown in it and leak them. SQLAlchemy's echo setting is the way to see statements.
logging.getLogger("aiosqlite").setLevel(logging.INFO)


async def ping(conn: AsyncConnection) -> None:
    """One round trip to the store, so a health check fails when the store cannot answer."""
    await conn.execute(select(literal(1)))


def read_only(engine: AsyncEngine) -> AsyncEngine:
    """The same store (same pool) for reading only: on SQLite its transactions don't take the write lock.

    Convention: ``engine.begin()`` for anything that writes, ``read_only(engine).connect()`` for reads.
    """
    return engine.execution_options(**{READ_ONLY_OPTION: True})


def create_engine(database_url: str, *, must_exist: bool = False) -> AsyncEngine:
    """An async engine for *database_url*; SQLite files get WAL mode, foreign keys and a busy timeout.

    A URL newsbot cannot use raises :class:`StoreError` here, before any driver is imported. With *must_exist*, a
    SQLite file that is not there is refused instead of being created (a store to read from, not to start).
    """
    try:
        url = make_url(database_url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise StoreError(f"cannot parse {database_url!r} as a database URL (examples: {URL_EXAMPLES})") from None
    backend, _, driver = url.drivername.partition("+")
    if backend not in SUPPORTED_DRIVERS:
        raise StoreError(f"unsupported URL scheme '{url.drivername}://' (use {URL_EXAMPLES})")
    if driver != SUPPORTED_DRIVERS[backend]:
        raise StoreError(
            f"'{url.drivername}://' names a driver newsbot does not use; write {backend}+{SUPPORTED_DRIVERS[backend]}://"
        )
    try:
        if backend == "sqlite":
            return _create_sqlite_engine(url, must_exist=must_exist)
        return create_async_engine(url, pool_pre_ping=True)
    except ModuleNotFoundError as exc:  # asyncpg comes with the "postgres" extra
        raise StoreError(f"the {driver} driver is not installed (pip install 'newsbot[postgres]')") from exc


def _create_sqlite_engine(url: URL, *, must_exist: bool) -> AsyncEngine:
    if url.database and url.database != ":memory:":
        path = Path(url.database)
        if must_exist and not path.exists():
            raise StoreError(f"SQLite file {path} does not exist")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problem = exc.strerror or exc
            raise StoreError(f"cannot create the directory {path.parent} for {path.name} ({problem})") from None
        if path.is_dir():
            raise StoreError(f"{path} is a directory, not a SQLite file")
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit off at the driver level; SQLAlchemy issues BEGIN itself (see "begin" below) so that
        # writers take the lock up front instead of failing to upgrade a read lock under concurrency.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        # Writers take the write lock up front (a deferred transaction that reads, then writes, fails at once
        # when another writer got in between); readers must not, or they queue behind every write.
        read_only = connection.get_execution_options().get(READ_ONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def columns_for(view: type, table: Table) -> list[Column[Any]]:
    """The columns of *table* named like the fields of the dataclass *view*, in the fields' order (fields the table
    has no column for are left out), so that each row selected builds a *view* positionally."""
    return [table.c[field.name] for field in dataclasses.fields(view) if field.name in table.c]


async def select_views(
    conn: AsyncConnection,
    view: type[V],
    table: Table,
    *where: ColumnElement[bool],
    order_by: Sequence[ColumnElement[Any]],
    limit: int | None = None,
) -> list[V]:
    """The rows of *table* matching *where*, in *order_by* order, each as the dataclass *view* (built positionally
    from the columns :func:`columns_for` picks), so a listing of one table states only its filter and order."""
    query = select(*columns_for(view, table)).where(*where).order_by(*order_by)
    if limit is not None:
        query = query.limit(limit)
    return [view(*row) for row in await conn.execute(query)]


def view_of(view: type[V], row: Row[Any], **given: Any) -> V:
    """The dataclass *view* of a row that holds a column named like each of its fields, *given* ones aside."""
    values = row._mapping
    return view(**{f.name: values[f.name] for f in dataclasses.fields(view) if f.name not in given}, **given)


async def reserve_ids(conn: AsyncConnection, table: Table, count: int) -> range:
    """Primary keys for *count* new rows of *table*, so bulk inserts need no row-by-row RETURNING.

    SQLite: the next ids after the current maximum, safe because every transaction holds the write lock from
    BEGIN IMMEDIATE. PostgreSQL: values drawn from the column's sequence (contiguous when nothing else draws).
    """
    if count <= 0:
        return range(0)
    dialect = conn.dialect.name
    if dialect == "sqlite":
        top = (await conn.execute(select(func.coalesce(func.max(table.c.id), 0)))).scalar_one()
        return range(top + 1, top + 1 + count)
    if dialect == "postgresql":
        sequence = func.pg_get_serial_sequence(table.name, "id")
        ids = (await conn.execute(select(func.nextval(sequence)).select_from(func.generate_series(1, count)))).scalars()
        drawn = sorted(ids)
        if drawn != list(range(drawn[0], drawn[0] + count)):
            raise RuntimeError("non-contiguous ids drawn from the sequence")  # pragma: no cover
        return range(drawn[0], drawn[0] + count)
    raise StoreError(f"database backend {dialect!r} is not supported (use SQLite or PostgreSQL)")


async def reset_id_sequences(conn: AsyncConnection, tables: list[Table]) -> None:
    """After rows were inserted with explicit ids, make the next generated id follow the largest one.

    SQLite derives the next rowid from the table itself; PostgreSQL's sequences must be told.
    """
    if conn.dialect.name != "postgresql":
        return
    for table in tables:
        sequence = func.pg_get_serial_sequence(table.name, "id")
        top = select(func.coalesce(func.max(table.c.id), 0)).scalar_subquery()
        # is_called=false when empty, so the first id is 1 and not 2.
        await conn.execute(select(func.setval(sequence, func.greatest(top, 1), top > 0)))


def insert_ignoring_conflicts(conn: AsyncConnection, table: Table) -> Insert:
    """``INSERT ... ON CONFLICT DO NOTHING`` in the connection's dialect: how the store stays idempotent."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    raise StoreError(f"database backend {dialect!r} is not supported (use SQLite or PostgreSQL)")
