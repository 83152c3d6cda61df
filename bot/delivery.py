"""The delivery worker: claim due deliveries from the outbox, send them, record what happened.

Its whole life fits here (like arq's worker): claim a batch, render each item once, personalise per reader, send
concurrently through the channels, then write every outcome of the batch in one transaction. Delivery state lives
in the database, so a worker that dies loses nothing: rows it had claimed go back to the queue when another worker
notices (at once on the same host, after ``NEWSBOT_DELIVERY_LEASE_SECONDS`` without a heartbeat elsewhere), and only
messages already handed to a channel but not yet recorded (at most one batch) can be sent twice.

Any number of workers, in one process or on several machines, share one store: claims never overlap (row locks on
PostgreSQL, the single writer on SQLite), and Telegram's overall rate is split evenly between the live workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import re
import socket
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.channels import (
    Channel,
    DeliveryFailed,
    OutgoingMessage,
    PermanentFailure,
    RecipientGone,
    RecipientMoved,
    TemporaryFailure,
)
from bot.digest import DigestMessages
from bot.newsroom import Newsroom
from bot.story_messages import MessageSource, StoryMessages
from bot.telegram_rate_limit import TelegramRateLimiter
from subscribers import queries
from subscribers.schema import AddressStatus, ChannelName, DeliveryStatus

_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_HOST = socket.gethostname()
#: How often workers count each other (and so re-split Telegram's rate); dead workers are looked for every lease/4.
RECOUNT_SECONDS = 1.0


@dataclass
class DrainReport:
    """What one drain of the outbox did, by outcome and by channel."""

    sent: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    retrying: Counter[str] = field(default_factory=Counter)
    cancelled: Counter[str] = field(default_factory=Counter)
    #: Deliveries still waiting for a retry time in the future when the drain stopped.
    deferred: int = 0

    @property
    def total(self) -> int:
        return sum(self.sent.values()) + sum(self.failed.values()) + sum(self.cancelled.values())


ProgressCallback = Callable[[int], None]


class DeliveryWorker:
    """Drains the outbox through the given channels (live ones, or file outboxes when there are no credentials)."""

    def __init__(
        self,
        newsroom: Newsroom,
        channels: Mapping[str, Channel],
        *,
        batch_size: int | None = None,
        concurrency: int | None = None,
        sources: Mapping[str, MessageSource] | None = None,
    ) -> None:
        self.newsroom = newsroom
        self.channels = channels
        self.batch_size = batch_size or newsroom.settings.delivery_batch_size
        #: Message builders by item kind (the part of ``item_key`` before the first ':').
        self.sources: dict[str, MessageSource] = dict(
            sources or {StoryMessages.prefix: StoryMessages(newsroom), DigestMessages.prefix: DigestMessages(newsroom)}
        )
        # Enough sends in flight to keep the Telegram rate over real round trips; SMTP has its own pool.
        self._limit = asyncio.Semaphore(concurrency or newsroom.settings.sends_in_flight)
        self._wake = asyncio.Event()
        #: This worker in the `workers` registry; its claims carry the id, and its heartbeats keep them its own.
        self.worker_id = uuid.uuid4().hex
        self._lease = timedelta(seconds=newsroom.settings.delivery_lease_seconds)
        #: Delivery workers alive at the last heartbeat, this one included; they split Telegram's overall rate.
        self.live_workers = 1

    async def recover(self) -> int:
        """Join the registry and return to the queue what dead workers left claimed; returns how many rows.

        Workers registered from this host whose process is gone are dead at once (a restart after a crash resumes
        immediately); workers elsewhere are dead when their heartbeat is older than the lease.
        """
        now = datetime.now(UTC)
        async with self.newsroom.engine.begin() as conn:
            await self._forget_dead_local_workers(conn)
            await queries.unregister_workers(conn, [self.worker_id])
            await queries.register_worker(conn, self.worker_id, _HOST, os.getpid(), now)
            return await queries.requeue_orphaned_deliveries(conn, now, self._lease)

    async def _forget_dead_local_workers(self, conn: AsyncConnection) -> None:
        """Workers of this host whose process is gone are dead now, without waiting for their lease to run out."""
        local = await queries.workers_on_host(conn, _HOST)
        await queries.unregister_workers(
            conn, [worker for worker, pid in local if worker != self.worker_id and not _process_exists(pid)]
        )

    async def heartbeat(self, *, reclaim: bool = True) -> None:
        """Tell the others this worker is alive and take a fair share of the rate; with *reclaim*, also return to
        the queue what dead workers had claimed."""
        now = datetime.now(UTC)
        async with self.newsroom.engine.begin() as conn:
            if reclaim:
                await self._forget_dead_local_workers(conn)
                await queries.requeue_orphaned_deliveries(conn, now, self._lease)
            self.live_workers = await queries.heartbeat_worker(conn, self.worker_id, now, self._lease)
        limiter = getattr(self.channels.get(ChannelName.TELEGRAM.value), "rate_limiter", None)
        if isinstance(limiter, TelegramRateLimiter):
            limiter.share(self.live_workers)

    async def leave(self) -> None:
        async with self.newsroom.engine.begin() as conn:
            await queries.unregister_workers(conn, [self.worker_id])

    @contextlib.asynccontextmanager
    async def on_duty(self) -> AsyncIterator[None]:
        """Registered and heartbeating for as long as the block runs; unregistered after it, even on errors.

        Workers count each other every :data:`RECOUNT_SECONDS`, so a share of Telegram's rate is fair within that
        time of a worker joining or leaving. A worker joining others waits that long before sending, so that they
        have made room for it first (only workers registering in the same instant can briefly overlap).
        """
        await self.recover()
        await self.heartbeat(reclaim=False)
        if self.live_workers > 1:
            await asyncio.sleep(RECOUNT_SECONDS)
            await self.heartbeat(reclaim=False)

        async def beat() -> None:
            reclaim_every = max(1, round(self._lease.total_seconds() / 4 / RECOUNT_SECONDS))
            for beats in itertools.count(1):
                await asyncio.sleep(RECOUNT_SECONDS)
                await self.heartbeat(reclaim=beats % reclaim_every == 0)

        beating = asyncio.create_task(beat(), name="delivery-heartbeat")
        try:
            yield
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
            await self.leave()

    async def run_batch(self) -> list[queries.DeliveryOutcome]:
        """Claim, send and record one batch; returns its outcomes (empty when nothing is due)."""
        now = datetime.now(UTC)
        async with self.newsroom.engine.begin() as conn:
            claimed = await queries.claim_due_deliveries(conn, self.batch_size, now, self.worker_id)
        if not claimed:
            return []
        await self._prepare(claimed)
        results = await asyncio.gather(*(self._deliver(item) for item in claimed))
        outcomes = [outcome for outcome, _ in results]
        side_effects = [effect for _, effect in results if effect is not None]
        now = datetime.now(UTC)
        async with self.newsroom.engine.begin() as conn:
            for effect in side_effects:
                await effect(conn, now)
            await queries.record_outcomes(conn, outcomes, now)
        return outcomes

    def wake(self) -> None:
        """Something was queued: a sleeping :meth:`run` looks at the queue now instead of at its next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event, *, poll_interval: float = 5.0) -> None:
        """Deliver until *stop* is set: the long-running worker of ``newsbot run``.

        Between batches it sleeps until the next retry is due, :meth:`wake` is called, or *poll_interval* passes.
        A batch in flight when *stop* is set is finished and recorded, so a graceful stop sends nothing twice.
        """
        async with self.on_duty():
            await self._run(stop, poll_interval)

    async def _run(self, stop: asyncio.Event, poll_interval: float) -> None:
        while not stop.is_set():
            if await self.run_batch():
                continue
            self._wake.clear()
            async with self.newsroom.reader.connect() as conn:
                next_due = await queries.next_retry_time(conn)
            timeout = poll_interval
            if next_due is not None:
                timeout = min(poll_interval, max(0.0, (next_due - datetime.now(UTC)).total_seconds()))
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            try:
                await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()

    async def drain(self, progress: ProgressCallback | None = None) -> DrainReport:
        """Send everything that is due now; stop when the only deliveries left wait for a later retry."""
        async with self.on_duty():
            return await self._drain(progress)

    async def _drain(self, progress: ProgressCallback | None) -> DrainReport:
        report = DrainReport()
        while True:
            outcomes = await self.run_batch()
            if not outcomes:
                break
            for outcome in outcomes:
                bucket = {
                    DeliveryStatus.SENT: report.sent,
                    DeliveryStatus.FAILED: report.failed,
                    DeliveryStatus.PENDING: report.retrying,
                    DeliveryStatus.CANCELLED: report.cancelled,
                }[outcome.status]
                bucket[outcome.channel] += 1
            if progress is not None:
                progress(len(outcomes))
        async with self.newsroom.reader.connect() as conn:
            report.deferred = await queries.count_due_deliveries(conn)
        return report

    async def _deliver(self, item: queries.ClaimedDelivery) -> tuple[queries.DeliveryOutcome, _SideEffect | None]:
        if item.address is None:
            return _outcome(item, DeliveryStatus.CANCELLED, "address no longer active"), None
        channel = self.channels.get(item.channel)
        if channel is None:
            return self._failed(item, f"no channel configured for {item.channel!r}"), None
        message = await self._message_for(item)
        if message is None:
            return _outcome(item, DeliveryStatus.CANCELLED, "its story or digest no longer exists"), None
        try:
            async with self._limit:
                # A long Telegram digest comes as several messages, sent in order as one delivery.
                for part in message if isinstance(message, tuple) else (message,):
                    receipt = await channel.send(part)
        except RecipientMoved as moved:
            return self._retry(item, str(moved), delay=0.0, counts=False), _move(item, moved.new_address)
        except RecipientGone as gone:
            if item.channel == ChannelName.EMAIL:
                return self._failed(item, str(gone)), _hard_bounce(item, str(gone), self.newsroom.settings.bounce_limit)
            return self._failed(item, str(gone)), _deactivate(item, AddressStatus.INACTIVE, str(gone))
        except TemporaryFailure as temporary:
            return self._retry(item, str(temporary), delay=temporary.retry_after), None
        except (PermanentFailure, DeliveryFailed) as failure:
            return self._failed(item, str(failure)), None
        return _outcome(item, DeliveryStatus.SENT, provider_id=receipt.provider_id), None

    async def _prepare(self, claimed: list[queries.ClaimedDelivery]) -> None:
        by_kind: dict[str, list[queries.ClaimedDelivery]] = {}
        for item in claimed:
            if item.address is not None:
                by_kind.setdefault(item.item_key.partition(":")[0], []).append(item)
        for kind, items in by_kind.items():
            source = self.sources.get(kind)
            if source is not None:
                await source.prepare(items)

    async def _message_for(self, item: queries.ClaimedDelivery) -> OutgoingMessage | tuple[OutgoingMessage, ...] | None:
        source = self.sources.get(item.item_key.partition(":")[0])
        if source is None or item.address is None:
            return None
        key = f"{_UNSAFE_KEY_CHARS.sub('_', item.item_key)}-{item.subscriber_id}"
        return await source.message_for(item, key, item.address)

    def _failed(self, item: queries.ClaimedDelivery, reason: str) -> queries.DeliveryOutcome:
        return _outcome(item, DeliveryStatus.FAILED, reason)

    def _retry(
        self, item: queries.ClaimedDelivery, reason: str, *, delay: float | None, counts: bool = True
    ) -> queries.DeliveryOutcome:
        attempts = item.attempts + 1
        if counts and attempts >= self.newsroom.settings.max_attempts:
            return self._failed(item, f"gave up after {attempts} attempts: {reason}")
        if delay is None:
            # Exponential backoff with full jitter, so retries of one outage don't arrive together.
            delay = random.uniform(0.5, 1.0) * min(3600.0, 30.0 * 2 ** (attempts - 1))
        retry_at = datetime.now(UTC) + timedelta(seconds=delay)
        return _outcome(item, DeliveryStatus.PENDING, reason, retry_at=retry_at)


_SideEffect = Callable[..., Awaitable[None]]


def _outcome(
    item: queries.ClaimedDelivery,
    status: DeliveryStatus,
    error: str | None = None,
    *,
    provider_id: str | None = None,
    retry_at: datetime | None = None,
) -> queries.DeliveryOutcome:
    return queries.DeliveryOutcome(item.id, item.channel, status, error, provider_id=provider_id, retry_at=retry_at)


def _deactivate(item: queries.ClaimedDelivery, status: AddressStatus, reason: str) -> _SideEffect:
    async def effect(conn, now: datetime) -> None:  # type: ignore[no-untyped-def]
        await queries.deactivate_address(conn, item.channel, item.subscriber_id, status, reason, now)

    return effect


def _hard_bounce(item: queries.ClaimedDelivery, reason: str, limit: int) -> _SideEffect:
    async def effect(conn, now: datetime) -> None:  # type: ignore[no-untyped-def]
        await queries.record_hard_bounce(conn, item.channel, item.subscriber_id, reason, limit, now)

    return effect


def _move(item: queries.ClaimedDelivery, new_address: str) -> _SideEffect:
    async def effect(conn, now: datetime) -> None:  # type: ignore[no-untyped-def]
        assert item.address is not None
        await queries.move_address(conn, item.channel, item.address, new_address, now)

    return effect


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
