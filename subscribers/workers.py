"""The worker registry: each delivery worker's heartbeat, so that a dead worker's claims can be taken back."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.schema import workers


def held_by_no_live_worker(claimed_by: ColumnElement[Any], now: datetime, lease: timedelta) -> ColumnElement[bool]:
    """True for a claim whose worker is gone: none was recorded, or its worker's heartbeat is older than *lease*
    (or it is no longer registered). What such a worker held goes back to the queue."""
    alive = select(workers.c.id).where(workers.c.heartbeat_at >= now - lease)
    return or_(claimed_by.is_(None), claimed_by.not_in(alive))


async def register_worker(conn: AsyncConnection, worker_id: str, host: str, pid: int, now: datetime) -> None:
    await conn.execute(workers.insert().values(id=worker_id, host=host, pid=pid, started_at=now, heartbeat_at=now))


async def heartbeat_worker(conn: AsyncConnection, worker_id: str, now: datetime, lease: timedelta) -> int:
    """Record that *worker_id* is alive; returns how many workers are alive now (itself included)."""
    await conn.execute(update(workers).where(workers.c.id == worker_id).values(heartbeat_at=now))
    return (
        await conn.execute(select(func.count()).select_from(workers).where(workers.c.heartbeat_at >= now - lease))
    ).scalar_one()


async def unregister_workers(conn: AsyncConnection, worker_ids: Iterable[str]) -> None:
    ids = list(worker_ids)
    if ids:
        await conn.execute(delete(workers).where(workers.c.id.in_(ids)))


async def workers_on_host(conn: AsyncConnection, host: str) -> list[tuple[str, int]]:
    """(worker id, pid) of the workers registered from *host*, so that dead local processes can be told apart."""
    rows = await conn.execute(select(workers.c.id, workers.c.pid).where(workers.c.host == host))
    return [(row.id, row.pid) for row in rows]


async def list_workers(conn: AsyncConnection) -> list[tuple[str, str, int, datetime, datetime]]:
    """Every registered worker as (id, host, pid, started_at, heartbeat_at), for the desk's status page."""
    rows = await conn.execute(
        select(workers.c.id, workers.c.host, workers.c.pid, workers.c.started_at, workers.c.heartbeat_at).order_by(
            workers.c.started_at
        )
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]
