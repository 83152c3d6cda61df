"""Inserting many rows at once, straight to the driver: how a 100,000-reader import stays around a second.

SQLAlchemy's executemany processes every parameter of every row in Python (about 7 µs a row); these rows are
plain tuples whose few constant values (the time, a boolean) are converted to the driver's form once, by
:func:`bound_value`. SQLite gets one prepared INSERT run by ``executemany``; PostgreSQL gets ``COPY`` (asyncpg's
``copy_records_to_table``), inside the caller's transaction either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Table
from sqlalchemy.ext.asyncio import AsyncConnection


def bound_value(conn: AsyncConnection, column: Column[Any], value: object) -> object:
    """*value* as the driver receives it for *column* (e.g. a UTC datetime as SQLite's text, a boolean as 0/1)."""
    process = column.type.bind_processor(conn.dialect)
    return value if process is None else process(value)


async def insert_many(conn: AsyncConnection, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """Insert *rows* (tuples in the order of *columns*, values already bound) into *table*; other columns get
    their server-side defaults (ids). Nothing is ignored: a conflicting row fails the whole statement."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        # COPY runs on asyncpg's own connection; a first statement through SQLAlchemy makes sure the transaction
        # it manages has begun, so the COPY belongs to it (and rolls back with it).
        await conn.exec_driver_sql("SELECT 1")
        raw = await conn.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(table.name, records=rows, columns=list(columns))  # type: ignore[union-attr]
        return
    placeholders = ", ".join("?" for _ in columns)
    await conn.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({placeholders})", rows)
