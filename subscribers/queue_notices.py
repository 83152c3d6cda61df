"""Telling workers in other processes that deliveries were queued, through PostgreSQL's LISTEN/NOTIFY.

A worker that finds nothing due sleeps until its next poll, so a story queued by another process (the web side,
the CLI) would wait that long before anything goes out. On PostgreSQL the planning transaction sends a notice that
is delivered when it commits, and every listening worker looks at the queue at once. SQLite has no such thing:
there a worker in the same process is woken directly, and workers in other processes poll.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

CHANNEL = "newsbot_deliveries_queued"


async def announce_queued(conn: AsyncConnection) -> None:
    """Deliveries were queued in this transaction: listeners hear of it when it commits (PostgreSQL only)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text(f"NOTIFY {CHANNEL}"))


@contextlib.asynccontextmanager
async def listening(engine: AsyncEngine, on_notice: Callable[[], None]) -> AsyncIterator[bool]:
    """While the block runs, *on_notice* is called whenever deliveries are queued and committed anywhere; yields
    whether this store can tell (PostgreSQL), on one connection held for the block."""
    if engine.dialect.name != "postgresql":
        yield False
        return
    async with engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection

        def heard(*_: object) -> None:
            on_notice()

        await driver.add_listener(CHANNEL, heard)
        try:
            yield True
        finally:
            with contextlib.suppress(Exception):  # the connection may be gone already; it is closed anyway
                await driver.remove_listener(CHANNEL, heard)
