"""The delivery worker: claim due deliveries from the outbox, send them, record what happened.

Its whole life fits here (like arq's worker). One loop claims deliveries ahead (up to a batch), renders each item
once, personalises per reader and hands messages to the channels, at most :data:`MAX_UNRECORDED` at a time; the
outcomes are written as they come back, in group commits (every :data:`GROUP_COMMIT_SECONDS`, or sooner when a
quarter of that budget is waiting), by that same loop: one writer, and the next claim rides in the same
transaction. Delivery state lives in the database, so a worker that dies loses nothing: rows it had claimed go
back to the queue when another worker notices (at once on the same host, after ``NEWSBOT_DELIVERY_LEASE_SECONDS``
without a heartbeat elsewhere), and only messages handed to a channel but not yet recorded, at most
:data:`MAX_UNRECORDED`, can be sent twice. A stop request (``stop`` set, e.g. by SIGTERM) stops claiming, lets the
sends in flight finish for up to :data:`STOP_GRACE_SECONDS`, records them, returns unsent claims to the queue and
ends: a clean stop sends nothing twice.

When a channel itself cannot be reached (`ChannelUnreachable`: relay down, Bot API failing) the channel is paused
for every worker through the store (`subscribers.channel_health`): nothing more is handed to it, one delivery at a
time probes it with backoff, no attempt is counted, and only after ``NEWSBOT_RETRY_FOR`` is anything marked failed.

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
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.app.clock import Clock, SystemClock
from bot.app.newsroom import Newsroom
from bot.channels import (
    Channel,
    ChannelUnreachable,
    DeliveryFailed,
    OutgoingMessage,
    PermanentFailure,
    RecipientGone,
    RecipientMoved,
    TemporaryFailure,
)
from bot.channels.telegram_rate_limit import TelegramRateLimiter
from bot.outbox.story_messages import MessageSource, StoryMessages
from bot.outbox.weekly_digest import DigestMessages
from subscribers import channel_health, delivery_retry, queries
from subscribers.channel_health import ChannelOutage
from subscribers.schema import AddressStatus, ChannelName, DeliveryStatus

_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_HOST = socket.gethostname()
#: How often workers count each other (and so re-split Telegram's rate); dead workers are looked for every lease/4.
RECOUNT_SECONDS = 1.0
#: Deliveries handed to a channel and not yet recorded, at most: all that a crash (SIGKILL) can send twice. At the
#: paid Telegram rate (1000/s) this keeps the rate over round trips of up to about 40 ms, group commit included.
MAX_UNRECORDED = 64
#: Outcomes are committed together this long after the first of them came back, or when a quarter of the
#: in-flight budget waits, or when nothing else is in flight.
GROUP_COMMIT_SECONDS = 0.1
#: After a stop request, sends already handed to a channel get this long to finish and be recorded.
STOP_GRACE_SECONDS = 10.0
#: `newsbot deliver` waits for a retry (or a paused channel's probe) due within this long instead of exiting.
WAIT_FOR_RETRY_SECONDS = 60.0


@dataclass
class DrainReport:
    """What one drain of the outbox did, by outcome and by channel, and what it left waiting."""

    sent: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    #: Deliveries that were tried, failed temporarily and wait for a retry (each counted once).
    retrying: Counter[str] = field(default_factory=Counter)
    cancelled: Counter[str] = field(default_factory=Counter)
    #: Deliveries still waiting (for a retry time, or for a paused channel) when the drain ended.
    deferred: int = 0
    #: When the first of them can go: its retry time, or the next probe of its paused channel.
    next_due: datetime | None = None
    #: Channels paused as unreachable when the drain ended.
    outages: dict[str, ChannelOutage] = field(default_factory=dict)
    #: The drain ended on a stop request (a signal), not because nothing was due.
    stopped: bool = False

    @property
    def total(self) -> int:
        return sum(self.sent.values()) + sum(self.failed.values()) + sum(self.cancelled.values())


ProgressCallback = Callable[[int], None]


class DeliveryWorker:
    """Drains the outbox through the given channels (live ones, or file outboxes when there are no credentials).

    *clock* decides every time the worker compares or waits for (retry times, probes, how long to wait for a
    retry); tests pass one they move by hand.
    """

    def __init__(
        self,
        newsroom: Newsroom,
        channels: Mapping[str, Channel],
        *,
        batch_size: int | None = None,
        concurrency: int | None = None,
        sources: Mapping[str, MessageSource] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.newsroom = newsroom
        self.channels = channels
        self.clock: Clock = clock or SystemClock()
        self.batch_size = batch_size or newsroom.settings.delivery_batch_size
        #: Message builders by item kind (the part of ``item_key`` before the first ':').
        self.sources: dict[str, MessageSource] = dict(
            sources or {StoryMessages.prefix: StoryMessages(newsroom), DigestMessages.prefix: DigestMessages(newsroom)}
        )
        # A slot is held from hand-over until the outcome is committed, so this covers round trips and the group
        # commit; it is never more than a crash may send twice. Sends beyond the channel's own limits wait in its
        # rate limiter or connection pool, where nothing has gone out yet.
        self.in_flight_limit = max(1, min(concurrency or MAX_UNRECORDED, MAX_UNRECORDED))
        self._wake = asyncio.Event()
        #: This worker in the `workers` registry; its claims carry the id, and its heartbeats keep them its own.
        self.worker_id = uuid.uuid4().hex
        self._lease = timedelta(seconds=newsroom.settings.delivery_lease_seconds)
        self._retry_for = timedelta(seconds=newsroom.settings.retry_for)
        #: Delivery workers alive at the last heartbeat, this one included; they split Telegram's overall rate.
        self.live_workers = 1

    async def recover(self) -> int:
        """Join the registry and return to the queue what dead workers left claimed; returns how many rows.

        Workers registered from this host whose process is gone are dead at once (a restart after a crash resumes
        immediately); workers elsewhere are dead when their heartbeat is older than the lease.
        """
        now = self.clock.now()
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
        now = self.clock.now()
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

    def wake(self) -> None:
        """Something was queued: a sleeping :meth:`run` looks at the queue now instead of at its next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event, *, poll_interval: float = 5.0) -> None:
        """Deliver until *stop* is set: the long-running worker of ``newsbot run``.

        When nothing is due it sleeps until the next retry or probe is due, :meth:`wake` is called, or
        *poll_interval* passes. On *stop* the sends in flight are finished and recorded, so a graceful stop sends
        nothing twice.
        """
        async with self.on_duty():
            await _Pump(self, stop, DrainReport(), None, poll_interval=poll_interval).run()

    async def drain(
        self,
        progress: ProgressCallback | None = None,
        *,
        stop: asyncio.Event | None = None,
        wait_for_retries: float = WAIT_FOR_RETRY_SECONDS,
    ) -> DrainReport:
        """Send everything that is due; wait for retries and probes due within *wait_for_retries* seconds, and
        stop when what is left waits longer (or when *stop* is set: in-flight sends are finished and recorded)."""
        report = DrainReport()
        stop = stop or asyncio.Event()
        async with self.on_duty():
            await _Pump(self, stop, report, progress, poll_interval=None, wait_for_retries=wait_for_retries).run()
        report.stopped = stop.is_set()
        async with self.newsroom.reader.connect() as conn:
            waiting = await delivery_retry.waiting_deliveries(conn)
            report.outages = await channel_health.outages(conn, count_waiting=True)
        report.deferred, report.next_due = waiting.count, waiting.next_due
        return report

    async def _deliver(self, item: queries.ClaimedDelivery, *, probe: bool) -> _Finished:
        if item.address is None:
            return _Finished(item, _outcome(item, DeliveryStatus.CANCELLED, "address no longer active"))
        channel = self.channels.get(item.channel)
        if channel is None:
            return _Finished(item, self._failed(item, f"no channel configured for {item.channel!r}"))
        message = await self._message_for(item)
        if message is None:
            return _Finished(item, _outcome(item, DeliveryStatus.CANCELLED, "its story or digest no longer exists"))
        try:
            # A long Telegram digest comes as several messages, sent in order as one delivery.
            for part in message if isinstance(message, tuple) else (message,):
                receipt = await channel.send(part)
        except RecipientMoved as moved:
            retry = self._retry(item, str(moved), delay=0.0, counts=False)
            return _Finished(item, retry, _move(item, moved.new_address))
        except RecipientGone as gone:
            if item.channel == ChannelName.EMAIL:
                effect = _hard_bounce(item, str(gone), self.newsroom.settings.bounce_limit)
                return _Finished(item, self._failed(item, str(gone)), effect)
            return _Finished(item, self._failed(item, str(gone)), _deactivate(item, AddressStatus.INACTIVE, str(gone)))
        except ChannelUnreachable as down:
            # Nothing is wrong with this message: it waits for the channel, without spending an attempt. A failed
            # probe goes behind the others, so that the next probe is another delivery.
            delay = timedelta(seconds=channel_health.FIRST_PROBE_SECONDS if probe else 0.0)
            retry_at = self.clock.now() + delay
            outcome = _outcome(item, DeliveryStatus.PENDING, str(down), retry_at=retry_at, attempted=False)
            return _Finished(item, outcome, health=_Health(item.channel, str(down), probe))
        except TemporaryFailure as temporary:
            return _Finished(item, self._retry(item, str(temporary), delay=temporary.retry_after))
        except (PermanentFailure, DeliveryFailed) as failure:
            return _Finished(item, self._failed(item, str(failure)))
        sent = _outcome(item, DeliveryStatus.SENT, provider_id=receipt.provider_id)
        return _Finished(item, sent, health=_Health(item.channel, None, probe) if probe else None)

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
        retry_at = self.clock.now() + timedelta(seconds=delay)
        return _outcome(item, DeliveryStatus.PENDING, reason, retry_at=retry_at)


_SideEffect = Callable[..., Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Health:
    """What a send said about its channel: unreachable (with the reason), or reachable again (``reason=None``,
    only ever from a probe)."""

    channel: str
    reason: str | None
    probe: bool


@dataclass(slots=True)
class _Finished:
    item: queries.ClaimedDelivery
    outcome: queries.DeliveryOutcome
    effect: _SideEffect | None = None
    health: _Health | None = None


class _Pump:
    """One drain or run of a worker: claims ahead, keeps up to ``in_flight_limit`` sends going, group-commits
    their outcomes with the next claim, and pauses channels that cannot be reached.

    Everything that touches the store runs in :meth:`run`'s own task, one transaction at a time; sends are tasks
    that only append to :attr:`finished`.
    """

    def __init__(
        self,
        worker: DeliveryWorker,
        stop: asyncio.Event,
        report: DrainReport,
        progress: ProgressCallback | None,
        *,
        poll_interval: float | None,
        wait_for_retries: float = 0.0,
    ) -> None:
        self.worker = worker
        self.stop = stop
        self.report = report
        self.progress = progress
        #: None: drain (end when nothing is due soon); a number: run until stopped, polling this often.
        self.poll_interval = poll_interval
        self.wait_for_retries = wait_for_retries
        self.limit = worker.in_flight_limit
        self.flush_at = max(1, self.limit // 4)
        self.low_water = worker.batch_size // 2  # claim again when half of the last claim has gone out
        self.ready: deque[queries.ClaimedDelivery] = deque()  # claimed, not yet handed to a channel
        self.probes: set[int] = set()  # claimed as the probe of a paused channel
        self.finished: list[_Finished] = []  # came back, not yet recorded
        self.first_finished_at = 0.0
        self.releases: list[int] = []  # claimed, never handed to a channel: back to the queue as they were
        self.unrecorded = 0  # handed to a channel (or being prepared for one) and not yet recorded
        self.tasks: set[asyncio.Task[None]] = set()
        self.paused: dict[str, str] = {}  # channel -> why, from the store and from this pump's own sends
        self.queue_empty = False  # the last claim found less than it asked for
        self.retrying: dict[int, str] = {}  # delivery id -> channel, for the report
        self.error: BaseException | None = None
        self.changed = worker._wake = asyncio.Event()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        stop_watch = asyncio.create_task(self._watch_stop())
        deadline: float | None = None
        try:
            while True:
                if self.error is not None:
                    raise self.error
                stopping = self.stop.is_set()
                if stopping:
                    if deadline is None:
                        deadline = loop.time() + STOP_GRACE_SECONDS
                        self.releases.extend(item.id for item in self.ready)
                        self.ready.clear()
                    elif loop.time() >= deadline and self.tasks:
                        await self._cancel_sends()
                else:
                    self._dispatch()
                age = loop.time() - self.first_finished_at
                flush = bool(self.finished) and (
                    len(self.finished) >= self.flush_at or age >= GROUP_COMMIT_SECONDS or not self.tasks or stopping
                )
                wants_claim = not stopping and len(self.ready) <= self.low_water
                if flush or (wants_claim and not self.queue_empty) or (self.releases and not self.tasks):
                    await self._write(claim=wants_claim and (not self.queue_empty or bool(self.finished)))
                    continue
                if not self.tasks and not self.finished and not self.ready and not self.releases:
                    if stopping or not await self._idle():
                        return
                    self.queue_empty = False
                    continue
                timeout = None
                if self.finished:
                    timeout = max(0.0, GROUP_COMMIT_SECONDS - age)
                if deadline is not None:
                    left = max(0.0, deadline - loop.time())
                    timeout = left if timeout is None else min(timeout, left)
                self.changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self.changed.wait()
        finally:
            stop_watch.cancel()
            if self.tasks:  # only on an error: nothing more gets recorded, the next worker requeues the claims
                for task in self.tasks:
                    task.cancel()
                await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _watch_stop(self) -> None:
        await self.stop.wait()
        self.changed.set()

    def _dispatch(self) -> None:
        """Hand ready deliveries to their channels while the in-flight budget lasts."""
        while self.ready and self.unrecorded < self.limit:
            item = self.ready.popleft()
            if item.channel in self.paused and item.id not in self.probes:
                self.releases.append(item.id)
                continue
            self.unrecorded += 1
            task = asyncio.create_task(self._send(item))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _send(self, item: queries.ClaimedDelivery) -> None:
        probe = item.id in self.probes
        try:
            done = await self.worker._deliver(item, probe=probe)
        except asyncio.CancelledError:
            # Stopped past the grace period: whether it went out is unknown; it goes back to the queue.
            done = _Finished(item, _outcome(item, DeliveryStatus.PENDING, "interrupted by a stop", attempted=False))
        except Exception as exc:  # a bug or a broken template: the drain stops with it
            self.error = exc
            self.changed.set()
            return
        if done.health is not None:
            if done.health.reason is None:
                self.paused.pop(item.channel, None)
            else:
                self.paused[item.channel] = done.health.reason
        if not self.finished:
            self.first_finished_at = asyncio.get_running_loop().time()
        self.finished.append(done)
        # Wake the loop only when it has something to decide: the first outcome (it starts the group-commit clock),
        # enough for a commit, the last send in flight, a channel's health, or a stop under way.
        count = len(self.finished)
        if count == 1 or count >= self.flush_at or len(self.tasks) <= 1 or done.health or self.stop.is_set():
            self.changed.set()

    async def _cancel_sends(self) -> None:
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _write(self, *, claim: bool) -> None:
        """One transaction: what came back (side effects, outcomes, channel health), unsent claims returned to the
        queue, and, with *claim*, the next deliveries."""
        worker = self.worker
        finished, self.finished = self.finished, []
        releases, self.releases = self.releases, []
        health: dict[str, _Health] = {}
        for done in finished:
            if done.health is not None:
                seen = health.get(done.health.channel)
                if seen is None or (done.health.probe and not seen.probe):
                    health[done.health.channel] = done.health
        now = worker.clock.now()
        claimed: list[queries.ClaimedDelivery] = []
        gave_up: Counter[str] = Counter()
        async with worker.newsroom.engine.begin() as conn:
            for done in finished:
                if done.effect is not None:
                    await done.effect(conn, now)
            if finished:
                await queries.record_outcomes(conn, [done.outcome for done in finished], now)
            for state in health.values():
                if state.reason is None:
                    await channel_health.record_reachable(conn, state.channel)
                else:
                    await channel_health.record_unreachable(conn, state.channel, state.reason, now, probe=state.probe)
                    if state.probe:
                        gave_up[state.channel] += await channel_health.give_up_waiting(
                            conn, state.channel, now, worker._retry_for
                        )
            if releases:
                await delivery_retry.release_claims(conn, releases, worker.worker_id, now)
            if claim:
                claimed = await self._claim(conn, now)
        self.unrecorded -= len(finished)
        self._count(finished, gave_up)
        if claimed:
            await worker._prepare(claimed)
            self.ready.extend(claimed)

    async def _claim(self, conn: AsyncConnection, now: datetime) -> list[queries.ClaimedDelivery]:
        """The probe of each paused channel whose probe is due (one worker gets it), then due deliveries of the
        channels that work."""
        worker = self.worker
        outages = await channel_health.outages(conn)
        self.paused = {name: outage.last_error or "unreachable" for name, outage in outages.items()}
        claimed: list[queries.ClaimedDelivery] = []
        # A send that found a channel down while this transaction ran has not been recorded yet: still paused.
        for done in self.finished:
            if done.health is not None and done.health.reason is not None:
                self.paused[done.health.channel] = done.health.reason
        for name, outage in outages.items():
            due = name in worker.channels and outage.next_probe_at <= now
            if due and await channel_health.take_probe(conn, name, now, now + worker._lease, worker.worker_id):
                probe = await queries.claim_due_deliveries(conn, 1, now, worker.worker_id, only_channels=[name])
                self.probes.update(item.id for item in probe)
                claimed += probe
        want = max(0, worker.batch_size - len(self.ready))
        batch = await queries.claim_due_deliveries(conn, want, now, worker.worker_id, skip_channels=list(outages))
        self.queue_empty = len(batch) < want
        return claimed + batch

    def _count(self, finished: list[_Finished], gave_up: Counter[str]) -> None:
        report = self.report
        final = 0
        for done in finished:
            outcome = done.outcome
            if outcome.status is DeliveryStatus.PENDING:
                if outcome.attempted or done.health is not None:
                    self.retrying[outcome.delivery_id] = outcome.channel
                continue
            self.retrying.pop(outcome.delivery_id, None)
            final += 1
            bucket = {DeliveryStatus.SENT: report.sent, DeliveryStatus.FAILED: report.failed}.get(
                outcome.status, report.cancelled
            )
            bucket[outcome.channel] += 1
        for done in finished:
            self.probes.discard(done.outcome.delivery_id)
        for channel, count in gave_up.items():
            if count:
                report.failed[channel] += count
                self.retrying = {key: name for key, name in self.retrying.items() if name != channel}
        report.retrying = Counter(self.retrying.values())
        if self.progress is not None and final:
            self.progress(final)

    async def _idle(self) -> bool:
        """Nothing claimed, nothing in flight: wait for the next due time; False when the drain should end."""
        worker = self.worker
        self.changed.clear()  # a wake() from here on is seen
        async with worker.newsroom.reader.connect() as conn:
            next_due = await channel_health.next_due_time(conn)
        now = worker.clock.now()
        wait = None if next_due is None else max(0.0, (next_due - now).total_seconds())
        if self.poll_interval is None:  # a drain
            if wait is None or wait > self.wait_for_retries:
                return False
        else:
            wait = self.poll_interval if wait is None else min(self.poll_interval, wait)
        # Never spin: something due but not claimable (another worker holds it) is looked at again shortly.
        if self.stop.is_set():
            return False
        sleeping = asyncio.ensure_future(worker.clock.sleep(max(wait, 0.05)))
        woken = asyncio.ensure_future(self.changed.wait())
        try:
            await asyncio.wait([sleeping, woken], return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeping.cancel()
            woken.cancel()
        return not self.stop.is_set()


def _outcome(
    item: queries.ClaimedDelivery,
    status: DeliveryStatus,
    error: str | None = None,
    *,
    provider_id: str | None = None,
    retry_at: datetime | None = None,
    attempted: bool = True,
) -> queries.DeliveryOutcome:
    return queries.DeliveryOutcome(
        item.id, item.channel, status, error, provider_id=provider_id, retry_at=retry_at, attempted=attempted
    )


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
