"""Statements over many rows at once: how a 100,000-reader import stays around a second.

Finding: :func:`one_of` matches a column against any number of values in one statement (SQLite reads them from
one JSON parameter, PostgreSQL from one array), instead of hundreds of IN lists of 500 bound parameters each.

Inserting, straight to the driver:

SQLAlchemy's executemany processes every parameter of every row in Python (about 7 µs a row); these rows are
plain tuples whose few constant values (the time, a boolean) are converted to the driver's form once, by
:func:`bound_value` (on SQLite a time becomes its text there, so the driver does not call its datetime adapter
for every value). PostgreSQL gets ``COPY`` (asyncpg's ``copy_records_to_table``). SQLite gets INSERTs of up to
``SQLITE_ROWS_PER_INSERT`` rows each: SQLite builds the little lookup table of a ``CHECK (x IN ('a', 'b', 'c'))``
constraint (three values or more) each time a statement runs, so one run per row (``executemany`` of a one-row
INSERT) spent more time on the ``addresses`` checks than on the rows. Both run inside the caller's transaction.

Indexes, for an insert large against what a table holds: on SQLite, :func:`indexes_built_after` drops the
tables' own indexes inside the transaction and builds each again, from sorted keys, once the rows are in, which
costs less than adding every row's key to them one by one. The UNIQUE constraints SQLite keeps inside the table
(``UNIQUE (channel, address)``) cannot be dropped and are kept up to date as usual. A rebuilt unique index that
finds two equal keys fails the statement, the transaction rolls back, and the indexes are there as before.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from itertools import chain
from typing import Any

from sqlalchemy import Column, ColumnElement, Integer, String, Table, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.schema import CreateIndex, DropIndex


def one_of(conn: AsyncConnection, column: Column[Any], values: Sequence[str] | Sequence[int]) -> ColumnElement[bool]:
    """``column`` equals one of *values* (strings, or integers for an integer column), as one bound parameter
    whatever their number."""
    if conn.dialect.name == "postgresql":
        item = Integer if values and isinstance(values[0], int) else String
        return column == any_(bindparam(None, list(values), type_=ARRAY(item)))
    given = func.json_each(json.dumps(list(values))).table_valued("value")
    return column.in_(select(given.c.value))


#: Rows per INSERT statement on SQLite (see the module's docstring); fewer when a row has many columns, so a
#: statement stays within the 32,766 bound parameters SQLite allows.
SQLITE_ROWS_PER_INSERT = 500
SQLITE_MAX_PARAMETERS = 32_766


def bound_value(conn: AsyncConnection, column: Column[Any], value: object) -> object:
    """*value* as the driver receives it for *column* (e.g. a UTC datetime as SQLite's text, a boolean as 0/1)."""
    process = column.type.bind_processor(conn.dialect)
    bound = value if process is None else process(value)
    if isinstance(bound, datetime) and conn.dialect.name == "sqlite":
        # The text sqlite3's own datetime adapter would store (what every other write stores), made once here.
        return bound.isoformat(" ")
    return bound


async def insert_many(conn: AsyncConnection, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """Insert *rows* (tuples in the order of *columns*, values already bound) into *table*; other columns get
    their server-side defaults (ids). Nothing is ignored: a conflicting row fails the whole statement."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        # COPY runs on asyncpg's own connection; a first statement through SQLAlchemy makes sure the transaction
        # it manages has begun, so the COPY belongs to it (and rolls back with it).
        await conn.exec_driver_sql("SELECT 1")
        from asyncpg.exceptions import IntegrityConstraintViolationError  # only PostgreSQL stores need asyncpg

        raw = await conn.get_raw_connection()
        try:
            await raw.driver_connection.copy_records_to_table(table.name, records=rows, columns=list(columns))  # type: ignore[union-attr]
        except IntegrityConstraintViolationError as exc:
            # Raised past SQLAlchemy: reported as the IntegrityError an INSERT would have raised.
            raise IntegrityError(f"COPY {table.name}", None, exc) from exc
        return
    per = max(1, min(SQLITE_ROWS_PER_INSERT, SQLITE_MAX_PARAMETERS // len(columns)))
    row = "(" + ", ".join("?" for _ in columns) + ")"
    head = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "
    whole = len(rows) - len(rows) % per
    if whole:
        flat = [tuple(chain.from_iterable(rows[start : start + per])) for start in range(0, whole, per)]
        await conn.exec_driver_sql(head + ", ".join([row] * per), flat)
    if whole < len(rows):
        rest = rows[whole:]
        await conn.exec_driver_sql(head + ", ".join([row] * len(rest)), tuple(chain.from_iterable(rest)))


@asynccontextmanager
async def indexes_built_after(conn: AsyncConnection, tables: Sequence[Table], rebuild: bool) -> AsyncIterator[None]:
    """With *rebuild*, on SQLite: drop the indexes *tables* declare, run the block, then create them again, all in
    the caller's transaction (see the module's docstring). Otherwise (or on PostgreSQL, whose ``COPY`` keeps its
    indexes as it goes) just run the block."""
    indexes = sorted((ix for t in tables for ix in t.indexes), key=lambda ix: str(ix.name))
    if not rebuild or conn.dialect.name != "sqlite" or not indexes:
        yield
        return
    for index in indexes:
        await conn.execute(DropIndex(index))
    yield
    for index in indexes:
        await conn.execute(CreateIndex(index))
