"""The delivery worker's loop: claim ahead, keep sends going, group-commit outcomes, pause unreachable channels.

One :class:`DeliveryPump` runs each drain or run of a `bot.outbox.worker.DeliveryWorker`; it is the hot path of
the outbox (every message goes through :meth:`DeliveryPump._dispatch` and :meth:`DeliveryPump._write`), so the
worker's per-message work stays in the worker and this loop only moves batches.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.app.metrics import count_outcomes
from bot.outbox.delivery_outcomes import Finished, Health, delivery_outcome
from bot.outbox.reader_hours import fit_retries_to_readers
from bot.outbox.ready_deliveries import ReadyDeliveries
from subscribers import channel_health, deliveries, delivery_retry, late_copies
from subscribers.channel_health import ChannelOutage
from subscribers.schema import ChannelName, DeliveryStatus, Priority

#: Every channel a delivery can be for: each is claimed on its own (one without a configured channel still is, so
#: that its deliveries fail with a reason instead of waiting forever).
CHANNELS = tuple(name.value for name in ChannelName)

if TYPE_CHECKING:
    from bot.outbox.worker import DeliveryWorker

#: Outcomes are committed together this long after the first of them came back, or when a quarter of the
#: in-flight budget waits, or when nothing else is in flight.
GROUP_COMMIT_SECONDS = 0.1
#: After a stop request, sends already handed to a channel get this long to finish and be recorded.
STOP_GRACE_SECONDS = 10.0
#: Sends started in one turn of the event loop, at most. Each one's first step (its message, the request up to the
#: channel's rate limiter, about half a millisecond) runs in the turn after it is started, back to back with the
#: others started with it: a group commit that frees the whole in-flight budget would start 64 at once and hold
#: every other task (replies, pages, the API) for all 64 of those steps.
DISPATCH_CHUNK = 8


@dataclass
class DrainReport:
    """What one drain of the outbox did, by outcome and by channel, and what it left waiting."""

    sent: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    #: Deliveries that were tried, failed temporarily and wait for a retry (each counted once).
    retrying: Counter[str] = field(default_factory=Counter)
    cancelled: Counter[str] = field(default_factory=Counter)
    #: Deliveries held back because an editor stopped their story (`newsbot resume` sends them).
    halted: Counter[str] = field(default_factory=Counter)
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
        done = (self.sent, self.failed, self.cancelled, self.halted)
        return sum(sum(counts.values()) for counts in done)


ProgressCallback = Callable[[int], None]


class DeliveryPump:
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
        self.low_water = worker.batch_size // 2  # claim again when half of a channel's last claim has gone out
        self.ready = ReadyDeliveries()  # claimed, not yet handed to a channel
        self.in_hand: Counter[str] = Counter()  # per channel: handed over (or being prepared), not yet recorded
        self.probes: set[int] = set()  # claimed as the probe of a paused channel
        self.finished: list[Finished] = []  # came back, not yet recorded
        self.first_finished_at = 0.0
        self.releases: list[int] = []  # claimed, never handed to a channel: back to the queue as they were
        self.unrecorded = 0  # handed to a channel (or being prepared for one) and not yet recorded
        self.tasks: set[asyncio.Task[None]] = set()
        self.paused: dict[str, str] = {}  # channel -> why, from the store and from this pump's own sends
        self.drained: set[str] = set()  # channels whose last claim found less than it asked for
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
                        self.releases.extend(item.id for item in self.ready.take_all())
                    elif loop.time() >= deadline and self.tasks:
                        await self._cancel_sends()
                else:
                    await self._dispatch()
                age = loop.time() - self.first_finished_at
                flush = bool(self.finished) and (
                    len(self.finished) >= self.flush_at or age >= GROUP_COMMIT_SECONDS or not self.tasks or stopping
                )
                low = [] if stopping else self._running_low()
                more = any(channel not in self.drained for channel in low)
                if flush or more or (self.releases and not self.tasks):
                    await self._write(claim=not stopping and (more or bool(self.finished)))
                    continue
                if not self.tasks and not self.finished and not self.ready and not self.releases:
                    if stopping or not await self._idle():
                        return
                    self.drained.clear()
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

    def _running_low(self) -> list[str]:
        """Channels not paused whose claimed deliveries are down to half a batch: time to claim more of them."""
        return [name for name in CHANNELS if name not in self.paused and self.ready.count(name) <= self.low_water]

    async def _dispatch(self) -> None:
        """Hand ready deliveries to their channels while the in-flight budget lasts, the most urgent first.

        The budget is shared between the channels with work: one whose sends wait (in Telegram's rate limiter, in
        the SMTP pool) keeps at most its share, so the other's sends never queue behind them. Sends start
        :attr:`DeliveryWorker.dispatch_chunk` at a time, each chunk in its own turn of the loop.
        """
        started = 0
        while self.unrecorded < self.limit:
            if started >= self.worker.dispatch_chunk:
                await asyncio.sleep(0)  # the sends just started take their first steps before more start
                started = 0
                if self.stop.is_set() or self.error is not None:
                    return
            waiting = self.ready.channels()
            if not waiting:
                return
            busy = len(set(waiting) | {name for name, count in self.in_hand.items() if count})
            share = max(1, self.limit // busy)
            open_ = [name for name in waiting if self.in_hand[name] < share]
            if not open_:
                return
            channel = min(open_, key=lambda name: (self.ready.head_priority(name), self.in_hand[name]))
            item = self.ready.pop(channel)
            if item.channel in self.paused and item.id not in self.probes:
                self.releases.append(item.id)
                continue
            self.unrecorded += 1
            self.in_hand[channel] += 1
            task = asyncio.create_task(self._send(item))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            started += 1

    async def _send(self, item: deliveries.ClaimedDelivery) -> None:
        probe = item.id in self.probes
        try:
            done = await self.worker._deliver(item, probe=probe)
        except asyncio.CancelledError:
            # Stopped past the grace period: whether it went out is unknown; it goes back to the queue.
            stopped = delivery_outcome(item, DeliveryStatus.PENDING, "interrupted by a stop", attempted=False)
            done = Finished(item, stopped)
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
        health: dict[str, Health] = {}
        for done in finished:
            if done.health is not None:
                seen = health.get(done.health.channel)
                if seen is None or (done.health.probe and not seen.probe):
                    health[done.health.channel] = done.health
        now = worker.clock.now()
        claimed: list[deliveries.ClaimedDelivery] = []
        gave_up: Counter[str] = Counter()
        async with worker.newsroom.engine.begin() as conn:
            for done in finished:
                if done.effect is not None:
                    await done.effect(conn, now)
            if finished:
                # A copy claimed before its story was corrected may carry the old text: it gets an edit too.
                late = await late_copies.copies_claimed_before_a_correction(conn, _sent_telegram_stories(finished))
                await deliveries.record_outcomes(conn, [done.outcome for done in finished], now)
                retried = [done.outcome.delivery_id for done in finished if _retried(done)]
                if retried:
                    await fit_retries_to_readers(conn, retried, worker.newsroom.settings, now)
                if late:
                    await late_copies.plan_late_edits(conn, late, now)
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
        self.in_hand.subtract(done.item.channel for done in finished)
        self._count(finished, gave_up)
        if claimed:
            await worker._prepare(claimed)
            self.ready.add(claimed)

    async def _claim(self, conn: AsyncConnection, now: datetime) -> list[deliveries.ClaimedDelivery]:
        """The probe of each paused channel whose probe is due (one worker gets it), then due deliveries of the
        channels that work."""
        worker = self.worker
        outages = await channel_health.outages(conn)
        self.paused = {name: outage.last_error or "unreachable" for name, outage in outages.items()}
        claimed: list[deliveries.ClaimedDelivery] = []
        # A send that found a channel down while this transaction ran has not been recorded yet: still paused.
        for done in self.finished:
            if done.health is not None and done.health.reason is not None:
                self.paused[done.health.channel] = done.health.reason
        for name, outage in outages.items():
            due = name in worker.channels and outage.next_probe_at <= now
            if due and await channel_health.take_probe(conn, name, now, now + worker._lease, worker.worker_id):
                probe = await deliveries.claim_due_deliveries(conn, 1, now, worker.worker_id, only_channels=[name])
                self.probes.update(item.id for item in probe)
                claimed += probe
        # Each channel is claimed on its own, so one with many due rows never fills the batch of the other.
        low = self._running_low()
        for name in low:
            want = worker.batch_size - self.ready.count(name)
            batch = await deliveries.claim_due_deliveries(conn, want, now, worker.worker_id, only_channels=[name])
            if len(batch) < want:
                self.drained.add(name)
            else:
                self.drained.discard(name)
            claimed += batch
        # A channel with plenty in hand still looks for breaking news at every commit: it goes ahead of what is
        # in hand at once instead of after half a batch of it.
        for name in CHANNELS:
            if name in low or name in self.paused or self.ready.head_priority(name) <= Priority.BREAKING:
                continue
            claimed += await deliveries.claim_due_deliveries(
                conn, self.low_water or 1, now, worker.worker_id, only_channels=[name], most_urgent=Priority.BREAKING
            )
        return claimed

    def _count(self, finished: list[Finished], gave_up: Counter[str]) -> None:
        count_outcomes((done.outcome for done in finished), gave_up=gave_up)  # /metrics: one add per label set
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
            buckets = {DeliveryStatus.SENT: report.sent, DeliveryStatus.FAILED: report.failed}
            buckets[DeliveryStatus.STOPPED] = report.halted
            bucket = buckets.get(outcome.status, report.cancelled)
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


def _sent_telegram_stories(finished: list[Finished]) -> list[int]:
    """The Telegram story messages among these that went out (the copies a correction may have to edit)."""
    return [
        done.item.id
        for done in finished
        if done.outcome.status is DeliveryStatus.SENT
        and done.item.channel == ChannelName.TELEGRAM.value
        and done.item.story_id is not None
        and done.item.item_key.startswith("story:")
    ]


def _retried(done: Finished) -> bool:
    """A failed attempt that will be tried again (not a wait for the channel to come back)."""
    outcome = done.outcome
    return outcome.status is DeliveryStatus.PENDING and outcome.attempted and outcome.retry_at is not None
