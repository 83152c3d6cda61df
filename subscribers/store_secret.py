"""Random secrets kept in the store, made once and then shared by every process that opens it.

When ``NEWSBOT_SECRET_KEY`` is unset, the key that signs personal links lives here: the first process to open the
store makes it, every later one (on any machine sharing the database, after any restart) reads the same value,
and `newsbot db copy` carries it with the rest. Several processes starting at once race safely: each inserts its
candidate ignoring a conflict, then reads back whichever one won.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from subscribers.database import insert_ignoring_conflicts, read_only
from subscribers.schema import store_secrets

#: The name of the link-signing key.
SIGNING_KEY = "signing"
#: Random bytes in a generated secret (``secrets.token_urlsafe`` makes 43 characters of 32 bytes).
SECRET_BYTES = 32


async def stored_secret(conn: AsyncConnection, name: str) -> str | None:
    """The secret called *name*, or None when none was made yet."""
    query = select(store_secrets.c.value).where(store_secrets.c.name == name)
    return (await conn.execute(query)).scalar_one_or_none()


async def secret_from_store(engine: AsyncEngine, name: str = SIGNING_KEY) -> str:
    """The store's secret called *name*, made (randomly, once) if it has none yet."""
    async with read_only(engine).connect() as conn:
        found = await stored_secret(conn, name)
    if found is not None:
        return found
    async with engine.begin() as conn:
        candidate = {"name": name, "value": secrets.token_urlsafe(SECRET_BYTES), "created_at": datetime.now(UTC)}
        await conn.execute(insert_ignoring_conflicts(conn, store_secrets).values(**candidate))
        won = await stored_secret(conn, name)
    assert won is not None
    return won
