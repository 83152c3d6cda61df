"""The Telegram fan-out both Telegram benchmarks measure: `newsbot deliver` of one story to N chats.

The store is filled directly, the story planned with `newsbot ingest`, then `newsbot deliver` (a child process,
measured) sends it through python-telegram-bot to the fake Bot API (another process, on 127.0.0.1). The send
rate is taken from the fake's own clock (first to last accepted message); client CPU per message subtracts the
CPU of an idle `newsbot deliver` (start-up and shutdown) measured in the same run.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness import (
    NEWSBOT,
    SAMPLE_STORY,
    add_bench_readers,
    cpu_seconds_of,
    fake_bot_api,
    fake_stats,
    migrate,
    newsbot_env,
    run_child,
)


@dataclass(frozen=True)
class FanOut:
    chats: int
    sent: int
    too_many_requests: int
    server_rate: float  # messages per second on the fake's clock
    wall: float  # the whole `newsbot deliver`, start-up included
    client_cpu_per_message_ms: float
    idle_cpu: float  # CPU of a `newsbot deliver` with nothing to send
    fake_cpu: float
    peak_rss_mb: float


def measure_fan_out(chats: int, *, paid: bool, fake_limit: int | None) -> FanOut:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        database = migrate(folder / "data")
        add_bench_readers(database, chats, story_topic_share=1.0, topics_per_reader=0)
        run_child([NEWSBOT, "ingest", SAMPLE_STORY], newsbot_env(folder / "data"), folder)
        migrate(folder / "idle")
        with fake_bot_api(rate_limit=fake_limit) as (url, pid):
            settings = {"telegram_token": "123456:BENCH", "telegram_api_url": url}
            if paid:
                settings["telegram_paid_broadcast"] = "1"
            idle = run_child([NEWSBOT, "deliver"], newsbot_env(folder / "idle", **settings), folder)
            fake_before = cpu_seconds_of(pid)
            run = run_child([NEWSBOT, "deliver"], newsbot_env(folder / "data", **settings), folder)
            fake_cpu = cpu_seconds_of(pid) - fake_before
            stats = fake_stats(url)
    span = (stats["last_accepted_at"] or 0) - (stats["first_accepted_at"] or 0)
    sent = int(stats["sent"])
    return FanOut(
        chats=chats,
        sent=sent,
        too_many_requests=int(stats["too_many_requests"]),
        server_rate=(sent - 1) / span if span > 0 else 0.0,
        wall=run.wall,
        client_cpu_per_message_ms=(run.cpu - idle.cpu) / max(sent, 1) * 1000,
        idle_cpu=idle.cpu,
        fake_cpu=fake_cpu,
        peak_rss_mb=run.peak_rss_mb,
    )
