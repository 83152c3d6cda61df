"""Benchmark 5: the weekly digest for 100,000 subscribers with varied topic sets, from 50 stories.

Run: .venv/bin/python bench/weekly_digest.py [SUBSCRIBERS] Every subscriber has a weekly Telegram chat and a weekly
email, and follows three to four of ten topics; the 50 stories of last week are spread over those topics. A measured
child process queues the digests (`bot.outbox.digest_planning.queue_weekly_digests`) and then renders every one
through the delivery worker into channels that discard what they get, so rendering (MJML compiled once per distinct
topic set, MIME patched per reader) is what is timed, not a network. Prints seconds to queue, seconds to render,
digests, MJML compiles and peak RSS.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness import OTHER_TOPICS, REPO, add_bench_readers, migrate, print_table, run_child

STORIES = 50
TOPICS = ("north-korea", *OTHER_TOPICS)


class DiscardChannel:
    """A channel that accepts every message and keeps none: what is measured is everything before the wire."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent = 0

    async def send(self, message: object) -> object:
        from bot.channels import Receipt

        self.sent += 1
        return Receipt(None)

    async def aclose(self) -> None:
        """Nothing to close."""


def add_last_weeks_stories(database: Path) -> None:
    today = datetime.now(UTC).date()
    monday = today - timedelta(days=today.weekday() + 7)
    db = sqlite3.connect(database)
    with db:
        for n in range(STORIES):
            created = datetime(monday.year, monday.month, monday.day, 8) + timedelta(hours=3 * n)
            story_id = f"bench-digest-{n}"
            db.execute(
                "INSERT INTO stories (id, title, body, summary, url, breaking, created_at)"
                " VALUES (?, ?, ?, ?, ?, 0, ?)",
                (story_id, f"Story number {n} of the week", "Body. " * 80, f"Summary of story {n}. " * 6,
                 f"https://fairview-gazette.example/{story_id}", created.isoformat(sep=" ")),
            )
            for position, topic in enumerate({TOPICS[n % len(TOPICS)], TOPICS[(n * 3 + 1) % len(TOPICS)]}):
                db.execute("INSERT INTO story_topics (story_id, topic, position) VALUES (?, ?, ?)",
                           (story_id, topic, position))
    db.close()


async def queue_and_render(data_dir: Path) -> dict[str, float]:
    sys.path.insert(0, str(REPO))
    from bot.app.config import Settings
    from bot.app.newsroom import Newsroom
    from bot.outbox.digest_planning import queue_weekly_digests
    from bot.outbox.worker import DeliveryWorker

    async with await Newsroom.open(Settings(data_dir=data_dir)) as newsroom:
        started = time.perf_counter()
        report = await queue_weekly_digests(newsroom)
        queued = time.perf_counter() - started
        channels = {"telegram": DiscardChannel("telegram"), "email": DiscardChannel("email")}
        started = time.perf_counter()
        drained = await DeliveryWorker(newsroom, channels).drain()  # type: ignore[arg-type]
        rendered = time.perf_counter() - started
    return {
        "queue_seconds": queued,
        "render_seconds": rendered,
        "queued": report.total,
        "sent": sum(drained.sent.values()),
        "messages": sum(c.sent for c in channels.values()),
        "mjml_compiles": newsroom.renderer.mjml_compiles,
    }


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(asyncio.run(queue_and_render(Path(sys.argv[2])))))
        return
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        database = migrate(folder / "data")
        add_bench_readers(database, count, story_topic_share=0.3, telegram_cadence="weekly", email_share=1.0,
                          email_cadence="weekly", topics_per_reader=3)
        add_last_weeks_stories(database)
        run = run_child([sys.executable, __file__, "--child", folder / "data"], {"PATH": "/usr/bin:/bin"}, folder)
    result = run.last_json()
    print_table(
        f"Weekly digest: {count:,} subscribers (weekly Telegram and email), {STORIES} stories",
        [
            ("digests queued", f"{result['queued']:,.0f} in {result['queue_seconds']:.1f} s"),
            ("digests rendered (delivery worker, discarding channels)",
             f"{result['sent']:,.0f} in {result['render_seconds']:.1f} s "
             f"= {result['sent'] / result['render_seconds']:,.0f}/s ({result['messages']:,.0f} messages)"),
            ("MJML compiles", f"{result['mjml_compiles']:,.0f}"),
            ("peak RSS of the child", f"{run.peak_rss_mb:.0f} MB"),
        ],
    )


if __name__ == "__main__":
    main()
