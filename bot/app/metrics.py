"""What ``GET /metrics`` shows, in Prometheus' text format (``prometheus-client``): one registry per process.

Counted in this process, as they happen (each process has its own counters; Prometheus sums them):

- ``newsbot_deliveries_total{channel,status}``: deliveries that came back from a send, by what they came to: sent,
  failed, retrying (the attempt failed, another follows), waiting (the channel was unreachable: no attempt
  counted), stopped, cancelled. Its rate is the send rate: ``rate(newsbot_deliveries_total{status="sent"}[1m])``.
- ``newsbot_delivery_retries_total{channel,reason}`` and ``newsbot_delivery_failures_total{channel,reason}``: the
  same attempts by their error, numbers and addresses blanked so that the reasons stay a short list.
- ``newsbot_event_loop_lag_seconds`` (a histogram) and ``newsbot_event_loop_lag_max_seconds`` (the longest of the
  last 10 s): how late the loop ran (:mod:`bot.app.loop_lag`).

Read from the store on each scrape (:class:`StoreGauges`), so every process answers them alike:
``newsbot_queue_depth{priority}``, ``newsbot_workers_alive``, ``newsbot_channel_reachable{channel}`` and
``newsbot_channel_paused{channel}``, and ``newsbot_store_up`` (0 when the store did not answer in time).

The send path adds to the counters once per group commit, per channel and status, never once per message.
"""

from __future__ import annotations

import asyncio
import collections
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.app.loop_lag import LoopLagMonitor
from bot.app.newsroom import Newsroom
from subscribers import channel_health, queue_gauges
from subscribers.deliveries import DeliveryOutcome
from subscribers.schema import ChannelName, DeliveryStatus, Priority

DELIVERIES = Counter("newsbot_deliveries", "Deliveries that came back from a send, by outcome", ["channel", "status"])
RETRIES = Counter("newsbot_delivery_retries", "Failed attempts that will be retried, by reason", ["channel", "reason"])
FAILURES = Counter("newsbot_delivery_failures", "Deliveries given up on, by reason", ["channel", "reason"])
LOOP_LAG = Histogram(
    "newsbot_event_loop_lag_seconds",
    "How much later than due a periodic callback ran on the event loop",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
LOOP_LAG_MAX = Gauge("newsbot_event_loop_lag_max_seconds", "The event loop's longest lag of the last 10 seconds")

#: How long a scrape waits for the store before answering without its gauges.
STORE_TIMEOUT = 2.0
#: Distinct reasons kept per counter and channel; more are counted as "other".
MAX_REASONS = 50
_ADDRESS = re.compile(r"<[^>]*>|\S+@\S+")
_NUMBER = re.compile(r"\d+")
_STATUS = {
    DeliveryStatus.SENT: "sent",
    DeliveryStatus.FAILED: "failed",
    DeliveryStatus.STOPPED: "stopped",
    DeliveryStatus.CANCELLED: "cancelled",
}
_reasons: dict[tuple[str, str], set[str]] = collections.defaultdict(set)


def watch_loop(monitor: LoopLagMonitor) -> None:
    """Report *monitor*'s samples as this process's event-loop lag."""
    monitor.on_lag = LOOP_LAG.observe
    LOOP_LAG_MAX.set_function(lambda: monitor.recent_max)


def reason_label(kind: str, channel: str, error: str | None) -> str:
    """*error* as a label: addresses and numbers blanked (chat ids, bytes, seconds), at most MAX_REASONS of them."""
    reason = _NUMBER.sub("N", _ADDRESS.sub("<address>", error or "unknown")).strip()[:80] or "unknown"
    seen = _reasons[(kind, channel)]
    if reason not in seen:
        if len(seen) >= MAX_REASONS:
            return "other"
        seen.add(reason)
    return reason


def count_outcomes(outcomes: Iterable[DeliveryOutcome], *, gave_up: dict[str, int] | None = None) -> None:
    """Add one group commit's outcomes to the counters; *gave_up* is per channel, failed after a long outage."""
    statuses: collections.Counter[tuple[str, str]] = collections.Counter()
    retries: collections.Counter[tuple[str, str]] = collections.Counter()
    failures: collections.Counter[tuple[str, str]] = collections.Counter()
    for outcome in outcomes:
        if outcome.status is DeliveryStatus.PENDING:
            status = "retrying" if outcome.attempted else "waiting"
            if outcome.attempted:
                retries[outcome.channel, reason_label("retry", outcome.channel, outcome.error)] += 1
        else:
            status = _STATUS.get(outcome.status, outcome.status.value)
            if outcome.status is DeliveryStatus.FAILED:
                failures[outcome.channel, reason_label("failure", outcome.channel, outcome.error)] += 1
        statuses[outcome.channel, status] += 1
    for channel, count in (gave_up or {}).items():
        if count:
            statuses[channel, "failed"] += count
            failures[channel, "channel unreachable for NEWSBOT_RETRY_FOR"] += count
    for counts, counter in ((statuses, DELIVERIES), (retries, RETRIES), (failures, FAILURES)):
        for labels, count in counts.items():
            counter.labels(*labels).inc(count)


@dataclass(frozen=True, slots=True)
class StoreSnapshot:
    queue: dict[int, int]
    workers: int
    paused: dict[str, channel_health.ChannelOutage]


class StoreGauges(Collector):
    """The store's gauges, read on each scrape through the process's event loop, waiting at most STORE_TIMEOUT.

    :meth:`collect` is called by prometheus-client in a thread of its own (see :func:`exposition`), never on the
    loop, which does the reading meanwhile.
    """

    def __init__(self, newsroom: Newsroom, loop: asyncio.AbstractEventLoop, timeout: float = STORE_TIMEOUT) -> None:
        self.newsroom = newsroom
        self.loop = loop
        self.timeout = timeout

    async def read(self) -> StoreSnapshot:
        newsroom = self.newsroom
        lease = newsroom.settings.delivery_lease_seconds
        async with newsroom.reader.connect() as conn:
            queue = await queue_gauges.queue_depth_by_priority(conn)
            workers = await queue_gauges.live_worker_count(conn, newsroom.clock.now(), timedelta(seconds=lease))
            paused = await channel_health.outages(conn)
        return StoreSnapshot(queue, workers, paused)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("newsbot_store_up", "1 when the store answered this scrape in time")
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(self.read(), self.timeout), self.loop)
        try:
            snapshot = future.result(self.timeout + 1)
        except Exception:  # the store's own error or its slowness: say so, show the rest
            future.cancel()
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        queue = GaugeMetricFamily(
            "newsbot_queue_depth", "Deliveries queued or in a worker's hands", labels=["priority"]
        )
        for priority in sorted({*Priority, *snapshot.queue}):
            queue.add_metric([_priority_name(priority)], snapshot.queue.get(priority, 0))
        yield queue
        alive = GaugeMetricFamily("newsbot_workers_alive", "Delivery workers with a recent heartbeat")
        alive.add_metric([], snapshot.workers)
        yield alive
        reachable = GaugeMetricFamily("newsbot_channel_reachable", "1 unless the channel is down", labels=["channel"])
        paused = GaugeMetricFamily(
            "newsbot_channel_paused", "1 while workers hold the channel's sends", labels=["channel"]
        )
        for channel in sorted({*(c.value for c in ChannelName), *snapshot.paused}):
            down = channel in snapshot.paused
            reachable.add_metric([channel], 0 if down else 1)
            paused.add_metric([channel], 1 if down else 0)
        yield reachable
        yield paused


def _priority_name(priority: int) -> str:
    try:
        return Priority(priority).name.lower()
    except ValueError:
        return str(priority)


async def exposition(newsroom: Newsroom) -> bytes:
    """This process's metrics and the store's, as the text ``/metrics`` answers with."""
    store = CollectorRegistry()
    store.register(StoreGauges(newsroom, asyncio.get_running_loop()))
    return await asyncio.to_thread(lambda: generate_latest(REGISTRY) + generate_latest(store))
