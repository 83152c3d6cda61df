"""The delivery worker: claim due deliveries from the outbox, send them, record what happened.

Its whole life fits here (like arq's worker). One loop claims deliveries ahead (up to a batch), renders each item
once, personalises per reader and hands messages to the channels, at most :data:`MAX_UNRECORDED` at a time; the
outcomes are written as they come back, in group commits (`bot.outbox.delivery_pump`: every 0.1 s, or sooner when
a quarter of that budget is waiting), by that same loop: one writer, and the next claim rides in the same
transaction. Delivery state lives in the database, so a worker that dies loses nothing: rows it had claimed go
back to the queue when another worker notices (`bot.outbox.worker_lease`: at once on the same host, after
``NEWSBOT_DELIVERY_LEASE_SECONDS`` without a heartbeat elsewhere), and only messages handed to a channel but not
yet recorded, at most :data:`MAX_UNRECORDED`, can be sent twice. A stop request (``stop`` set, e.g. by SIGTERM)
stops claiming, lets the sends in flight finish for up to 10 s, records them, returns unsent claims to the queue
and ends: a clean stop sends nothing twice.

When a channel itself cannot be reached (`ChannelUnreachable`: relay down, Bot API failing) the channel is paused
for every worker through the store (`subscribers.channel_health`): nothing more is handed to it, one delivery at a
time probes it with backoff, no attempt is counted, and only after ``NEWSBOT_RETRY_FOR`` is anything marked failed.

A failed send is retried as `bot.outbox.retry_policy` says, the rule social posts follow too.

Any number of workers, in one process or on several machines, share one store: claims never overlap (row locks on
PostgreSQL, the single writer on SQLite), and Telegram's overall rate is split evenly between the live workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta

from bot.app.clock import Clock
from bot.app.newsroom import Newsroom
from bot.channels import (
    Channel,
    ChannelUnreachable,
    DeliveryFailed,
    OutgoingMessage,
    PermanentFailure,
    Receipt,
    RecipientGone,
    RecipientMoved,
    TemporaryFailure,
)
from bot.channels.telegram_rate_limit import SendWithdrawn, TelegramRateLimiter, still_wanted
from bot.outbox.change_messages import StoryChangeMessages
from bot.outbox.delivery_outcomes import Finished, Health, deactivate, delivery_outcome, hard_bounce, move
from bot.outbox.delivery_pump import DISPATCH_CHUNK, DeliveryPump, DrainReport, ProgressCallback
from bot.outbox.digest_messages import DigestMessages
from bot.outbox.halted_stories import HaltedStories
from bot.outbox.retry_policy import RetryPolicy
from bot.outbox.story_messages import MessageSource, StoryMessages
from bot.outbox.worker_lease import RECOUNT_SECONDS, WorkerLease
from subscribers import channel_health, deliveries, delivery_retry, queue_notices, story_states
from subscribers.schema import AddressStatus, ChannelName, DeliveryStatus
from subscribers.story_states import STOPPED

_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
#: Deliveries handed to a channel and not yet recorded, at most: all that a crash (SIGKILL) can send twice. At the
#: paid Telegram rate (1000/s) this keeps the rate over round trips of up to about 40 ms, group commit included.
MAX_UNRECORDED = 64
#: `newsbot deliver` waits for a retry (or a paused channel's probe) due within this long instead of exiting.
WAIT_FOR_RETRY_SECONDS = 60.0


def default_sources(newsroom: Newsroom) -> dict[str, MessageSource]:
    """Stories, digests, and what is done to a story's sent messages (edits, notices, deletions)."""
    changes = StoryChangeMessages(newsroom)
    return {
        StoryMessages.prefix: StoryMessages(newsroom),
        DigestMessages.prefix: DigestMessages(newsroom),
        **dict.fromkeys(changes.prefixes, changes),
    }


def held_story_of(item: deliveries.ClaimedDelivery) -> str | None:
    """The story whose stop holds this delivery back: a story's own messages (not edits or deletions of them)."""
    if item.story_id is not None and item.item_key.partition(":")[0] in story_states.HELD_ITEM_KINDS:
        return item.story_id
    return None


def halted_outcome(item: deliveries.ClaimedDelivery, why: str) -> deliveries.DeliveryOutcome:
    """A delivery of a halted story, not sent: stopped (resume sends it), or cancelled for a retracted story."""
    if why == story_states.RETRACTED:
        return delivery_outcome(item, DeliveryStatus.CANCELLED, "its story was retracted", attempted=False)
    return delivery_outcome(item, DeliveryStatus.STOPPED, "its story was stopped by an editor", attempted=False)


class DeliveryWorker:
    """Drains the outbox through the given channels (live ones, or file outboxes when there are no credentials).

    *clock* (default: the newsroom's) decides every time the worker compares or waits for (retry times, probes,
    how long to wait for a retry); tests pass one they move by hand.
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
        self.clock: Clock = clock or newsroom.clock
        self.batch_size = batch_size or newsroom.settings.delivery_batch_size
        #: Message builders by item kind (the part of ``item_key`` before the first ':').
        self.sources: dict[str, MessageSource] = dict(sources or default_sources(newsroom))
        # A slot is held from hand-over until the outcome is committed, so this covers round trips and the group
        # commit; it is never more than a crash may send twice. Sends beyond the channel's own limits wait in its
        # rate limiter or connection pool, where nothing has gone out yet.
        self.in_flight_limit = max(1, min(concurrency or MAX_UNRECORDED, MAX_UNRECORDED))
        #: Sends started in one turn of the event loop (`bot.outbox.delivery_pump.DISPATCH_CHUNK`).
        self.dispatch_chunk = DISPATCH_CHUNK
        self._wake = asyncio.Event()
        #: This worker in the `workers` registry (shared with a social poster in the same process); its claims
        #: carry the id, and its heartbeats keep them its own.
        self.lease = WorkerLease(newsroom, self.clock, on_count=self._share_rate)
        self.worker_id = self.lease.worker_id
        self._lease = self.lease.lease
        self._retry_for = timedelta(seconds=newsroom.settings.retry_for)
        self.policy = RetryPolicy.from_settings(newsroom.settings)
        #: Stories an editor stopped or retracted: checked right before each send of one of their messages.
        self.halted = HaltedStories(newsroom, self.clock)

    @property
    def live_workers(self) -> int:
        """Workers alive at the last heartbeat, this one included; they split Telegram's overall rate."""
        return self.lease.live_workers

    def _share_rate(self, live_workers: int) -> None:
        limiter = getattr(self.channels.get(ChannelName.TELEGRAM.value), "rate_limiter", None)
        if isinstance(limiter, TelegramRateLimiter):
            limiter.share(live_workers)

    async def recover(self) -> int:
        """Join the registry and return to the queue what dead workers left claimed; returns how many deliveries."""
        return await self.lease.recover()

    async def heartbeat(self, *, reclaim: bool = True) -> None:
        """Tell the others this worker is alive and take a fair share of the rate; with *reclaim*, also return to
        the queue what dead workers had claimed."""
        await self.lease.heartbeat(reclaim=reclaim)

    async def leave(self) -> None:
        await self.lease.leave()

    @contextlib.asynccontextmanager
    async def on_duty(self) -> AsyncIterator[None]:
        """Registered and heartbeating for as long as the block runs; unregistered after it, even on errors.

        Workers count each other every :data:`RECOUNT_SECONDS`, so a share of Telegram's rate is fair within that
        time of a worker joining or leaving. A worker joining others waits that long before sending, so that they
        have made room for it first (only workers registering in the same instant can briefly overlap).
        """
        async with self.lease.held():
            if self.live_workers > 1:
                await self.clock.sleep(RECOUNT_SECONDS)
                await self.heartbeat(reclaim=False)
            yield

    def wake(self) -> None:
        """Something was queued: a sleeping :meth:`run` looks at the queue now instead of at its next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event, *, poll_interval: float = 5.0) -> None:
        """Deliver until *stop* is set: the long-running worker of ``newsbot run``.

        When nothing is due it sleeps until the next retry or probe is due, :meth:`wake` is called (on PostgreSQL
        also when any process queues deliveries), or *poll_interval* passes. On *stop* the sends in flight are
        finished and recorded, so a graceful stop sends nothing twice.
        """
        async with self.on_duty(), queue_notices.listening(self.newsroom.engine, self.wake):
            await DeliveryPump(self, stop, DrainReport(), None, poll_interval=poll_interval).run()

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
            pump = DeliveryPump(self, stop, report, progress, poll_interval=None, wait_for_retries=wait_for_retries)
            await pump.run()
        report.stopped = stop.is_set()
        async with self.newsroom.reader.connect() as conn:
            waiting = await delivery_retry.waiting_deliveries(conn)
            report.outages = await channel_health.outages(conn, count_waiting=True)
        report.deferred, report.next_due = waiting.count, waiting.next_due
        return report

    async def _deliver(self, item: deliveries.ClaimedDelivery, *, probe: bool) -> Finished:
        if item.address is None:
            return Finished(item, delivery_outcome(item, DeliveryStatus.CANCELLED, "address no longer active"))
        channel = self.channels.get(item.channel)
        if channel is None:
            return Finished(item, self._failed(item, f"no channel configured for {item.channel!r}"))
        held = held_story_of(item)
        why = await self.halted.why_halted(held) if held is not None else None
        if why is not None:
            return Finished(item, halted_outcome(item, why))
        message = await self._message_for(item)
        if message is None:
            gone = delivery_outcome(item, DeliveryStatus.CANCELLED, "its story or digest no longer exists")
            return Finished(item, gone)
        try:
            receipt = await self._send_parts(channel, message, held)
        except SendWithdrawn:
            # Stopped while it waited for its turn in the rate limiter: it never went out.
            return Finished(item, halted_outcome(item, await self.halted.why_halted(held or "") or STOPPED))
        except RecipientMoved as moved:
            retry = self._retry(item, str(moved), delay=0.0, counts=False)
            return Finished(item, retry, move(item, moved.new_address))
        except RecipientGone as gone:
            if item.channel == ChannelName.EMAIL:
                effect = hard_bounce(item, str(gone), self.newsroom.settings.bounce_limit)
                return Finished(item, self._failed(item, str(gone)), effect)
            return Finished(item, self._failed(item, str(gone)), deactivate(item, AddressStatus.INACTIVE, str(gone)))
        except ChannelUnreachable as down:
            # Nothing is wrong with this message: it waits for the channel, without spending an attempt. A failed
            # probe goes behind the others, so that the next probe is another delivery.
            delay = timedelta(seconds=channel_health.FIRST_PROBE_SECONDS if probe else 0.0)
            retry_at = self.clock.now() + delay
            outcome = delivery_outcome(item, DeliveryStatus.PENDING, str(down), retry_at=retry_at, attempted=False)
            return Finished(item, outcome, health=Health(item.channel, str(down), probe))
        except TemporaryFailure as temporary:
            return Finished(item, self._retry(item, str(temporary), delay=temporary.retry_after))
        except (PermanentFailure, DeliveryFailed) as failure:
            return Finished(item, self._failed(item, str(failure)))
        sent = delivery_outcome(item, DeliveryStatus.SENT, provider_id=receipt.provider_id)
        return Finished(item, sent, health=Health(item.channel, None, probe) if probe else None)

    async def _send_parts(
        self, channel: Channel, message: OutgoingMessage | tuple[OutgoingMessage, ...], held: str | None
    ) -> Receipt:
        """Send the message (a long Telegram digest comes as several, sent in order as one delivery); a story's own
        message is withdrawn if its story is halted while it waits for the rate limiter."""
        token = still_wanted.set(None if held is None else functools.partial(self.halted.may_send, held))
        try:
            for part in message if isinstance(message, tuple) else (message,):
                receipt = await channel.send(part)
        finally:
            still_wanted.reset(token)
        return receipt

    async def _prepare(self, claimed: list[deliveries.ClaimedDelivery]) -> None:
        by_kind: dict[str, list[deliveries.ClaimedDelivery]] = {}
        for item in claimed:
            if item.address is not None:
                by_kind.setdefault(item.item_key.partition(":")[0], []).append(item)
        for kind, items in by_kind.items():
            source = self.sources.get(kind)
            if source is not None:
                await source.prepare(items)

    async def _message_for(
        self, item: deliveries.ClaimedDelivery
    ) -> OutgoingMessage | tuple[OutgoingMessage, ...] | None:
        source = self.sources.get(item.item_key.partition(":")[0])
        if source is None or item.address is None:
            return None
        key = f"{_UNSAFE_KEY_CHARS.sub('_', item.item_key)}-{item.subscriber_id}"
        return await source.message_for(item, key, item.address)

    def _failed(self, item: deliveries.ClaimedDelivery, reason: str) -> deliveries.DeliveryOutcome:
        return delivery_outcome(item, DeliveryStatus.FAILED, reason)

    def _retry(
        self, item: deliveries.ClaimedDelivery, reason: str, *, delay: float | None, counts: bool = True
    ) -> deliveries.DeliveryOutcome:
        attempts = item.attempts + 1
        if counts and self.policy.gives_up(attempts):
            return self._failed(item, f"gave up after {attempts} attempts: {reason}")
        retry_at = self.policy.next_try(self.clock.now(), attempts, delay)
        return delivery_outcome(item, DeliveryStatus.PENDING, reason, retry_at=retry_at)
