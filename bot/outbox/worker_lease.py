"""A worker's lease in the ``workers`` registry: what makes its claims its own, and the others' claims recoverable.

Every sender of the outbox (the delivery worker and the social poster, alone or sharing one registration in one
process) registers, heartbeats every :data:`RECOUNT_SECONDS`, and claims rows under its id. A worker that dies
stops heartbeating; what it had claimed, in every queue (deliveries and social posts), goes back to the queue when
another worker notices: at once when the dead process was on the same host, else after
``NEWSBOT_DELIVERY_LEASE_SECONDS`` without a heartbeat. Each heartbeat also counts the live workers (they split
Telegram's overall rate).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.app.clock import Clock
from bot.app.newsroom import Newsroom
from subscribers import delivery_retry, social_post_claims, workers

_HOST = socket.gethostname()
#: How often workers count each other (and so re-split Telegram's rate); dead workers are looked for every lease/4.
RECOUNT_SECONDS = 1.0


class WorkerLease:
    """One registration in the ``workers`` registry, held for as long as any of its users is on duty.

    *on_count* is called with the number of live workers at every heartbeat.
    """

    def __init__(self, newsroom: Newsroom, clock: Clock, *, on_count: Callable[[int], None] | None = None) -> None:
        self.newsroom = newsroom
        self.clock = clock
        #: Claims carry this id, and heartbeats keep them this worker's own.
        self.worker_id = uuid.uuid4().hex
        self.lease = timedelta(seconds=newsroom.settings.delivery_lease_seconds)
        #: Workers alive at the last heartbeat, this one included.
        self.live_workers = 1
        self._on_count = on_count
        self._holders = 0
        self._beating: asyncio.Task[None] | None = None
        self._stop_beating = asyncio.Event()
        self._joining = asyncio.Lock()

    async def recover(self) -> int:
        """Join the registry and return to the queue what dead workers left claimed; returns how many deliveries.

        Workers registered from this host whose process is gone are dead at once (a restart after a crash resumes
        immediately); workers elsewhere are dead when their heartbeat is older than the lease.
        """
        now = self.clock.now()
        async with self.newsroom.engine.begin() as conn:
            await self._forget_dead_local_workers(conn)
            await workers.unregister_workers(conn, [self.worker_id])
            await workers.register_worker(conn, self.worker_id, _HOST, os.getpid(), now)
            return await self._requeue_orphans(conn)

    async def _requeue_orphans(self, conn: AsyncConnection) -> int:
        now = self.clock.now()
        requeued = await delivery_retry.requeue_orphaned_deliveries(conn, now, self.lease)
        await social_post_claims.requeue_orphaned_social_posts(conn, now, self.lease)
        return requeued

    async def _forget_dead_local_workers(self, conn: AsyncConnection) -> None:
        """Workers of this host whose process is gone are dead now, without waiting for their lease to run out."""
        local = await workers.workers_on_host(conn, _HOST)
        await workers.unregister_workers(
            conn, [worker for worker, pid in local if worker != self.worker_id and not _process_exists(pid)]
        )

    async def heartbeat(self, *, reclaim: bool = True) -> None:
        """Tell the others this worker is alive and count them; with *reclaim*, also return to the queue what dead
        workers had claimed."""
        now = self.clock.now()
        async with self.newsroom.engine.begin() as conn:
            if reclaim:
                await self._forget_dead_local_workers(conn)
                await self._requeue_orphans(conn)
            self.live_workers = await workers.heartbeat_worker(conn, self.worker_id, now, self.lease)
        if self._on_count is not None:
            self._on_count(self.live_workers)

    async def leave(self) -> None:
        async with self.newsroom.engine.begin() as conn:
            await workers.unregister_workers(conn, [self.worker_id])

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """Registered and heartbeating for as long as any block using this lease runs; unregistered after the last
        one, even on errors. The first to enter recovers what dead workers left claimed."""
        async with self._joining:  # users starting together register once
            if self._holders == 0:
                await self.recover()
                await self.heartbeat(reclaim=False)
                self._stop_beating.clear()
                self._beating = asyncio.create_task(self._beat(), name="worker-heartbeat")
            self._holders += 1
        try:
            yield
        finally:
            self._holders -= 1
            if self._holders == 0 and self._beating is not None:
                beating, self._beating = self._beating, None
                # Asked to stop, not cancelled: a heartbeat cancelled inside its transaction could leave that
                # connection holding SQLite's write lock, and every writer after it (leave() first) waiting.
                self._stop_beating.set()
                await beating
                await self.leave()

    async def _beat(self) -> None:
        reclaim_every = max(1, round(self.lease.total_seconds() / 4 / RECOUNT_SECONDS))
        for beats in itertools.count(1):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_beating.wait(), RECOUNT_SECONDS)
                return
            await self.heartbeat(reclaim=beats % reclaim_every == 0)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
