"""Scaling out on PostgreSQL: planning, and Telegram and email fan-outs by 1, 2 and 4 concurrent workers.

Run: .venv/bin/python bench/scaling_postgres.py [--postgres-url postgresql://postgres@127.0.0.1:5432/test]
                                                [--size-factor F]
Every database is a scratch one on that server (newsbot_bench_<pid>_*, cloned from migrated templates, all dropped
at the end); --size-factor scales every size (0.05 for a quick run). PostgreSQL runs with the server's own settings.
1. Planning, 1,000,000 subscribers of whom 30% follow the story's topic (the readers of bench/planning.py): newsbot's
   `deliveries.plan_story_deliveries` timed inside a child, against a bare asyncpg `INSERT ... SELECT ... ON CONFLICT
   DO NOTHING` written by hand, each on its own copy of the same database (ratio = bare s / newsbot s).
2. Telegram at the paid limit, 20,000 chats, fake Bot API without a limit (its own process): the story is planned
   once (`newsbot ingest`), then 1, 2 and 4 `newsbot deliver` processes start together on a fresh copy. Aggregate
   rate on the fake's clock (first to last accepted message); duplicates = messages the fake accepted beyond the
   deliveries recorded as sent (one per chat). The workers split the 1,000/s between them through the `workers`
   registry, so together they should stay near 1,000/s: more workers buy CPU headroom, not speed. A worker learns
   of a newcomer only at its next heartbeat, though; the table says so when the aggregate went above the limit.
3. Email, 20,000 recipients, the full pipeline (render once, MIME per reader, SMTP over 4 connections per worker)
   into bench/smtp_discard.py's sink, here also counting accepted messages on its own clock and distinct recipients
   (duplicates = accepted - distinct).
4. Peak RSS of every worker process.
Both fan-outs also run once on SQLite with one worker, measured the same way, as the baseline. Client CPU per message
is the workers' total CPU less that of as many idle `newsbot deliver` runs (start-up and shutdown); the database
server's CPU is not in it. The machine's load average is printed with each table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import (
    NEWSBOT,
    REPO,
    SAMPLE_STORY,
    add_bench_readers,
    add_bench_readers_postgres,
    cpu_seconds_of,
    fake_bot_api,
    fake_stats,
    migrate,
    newsbot_env,
    print_table,
    run_child,
    run_children,
)

WORKER_COUNTS = (1, 2, 4)
PAID_LIMIT = 1000.0
STORY_ID = "bench-planning-story"
BARE_PLAN = """
INSERT INTO deliveries (item_key, story_id, subscriber_id, channel, priority, status, attempts,
                        not_before, created_at, updated_at)
SELECT 'story:' || $1::text, $1::text, a.subscriber_id, a.channel, 10, 'pending', 0, $2, $2, $2
FROM follows f JOIN addresses a ON a.subscriber_id = f.subscriber_id
WHERE f.topic = 'north-korea' AND a.status = 'active' AND a.cadence = 'instant'
ON CONFLICT DO NOTHING
"""


class Server:
    """Scratch databases on one PostgreSQL server, all named after this run and all dropped by :meth:`drop_all`."""

    def __init__(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        self.url = make_url(url)
        self.prefix = f"newsbot_bench_{os.getpid()}"
        self.made: list[str] = []

    def name(self, suffix: str) -> str:
        return f"{self.prefix}_{suffix}"

    def dsn(self, database: str | None = None) -> str:
        """A plain postgresql:// URL (asyncpg's) of *database*, or of the server's own database."""
        url = self.url.set(drivername="postgresql")
        if database:
            url = url.set(database=database)
        return url.render_as_string(hide_password=False)

    def sqlalchemy_url(self, database: str) -> str:
        return self.url.set(drivername="postgresql+asyncpg", database=database).render_as_string(hide_password=False)

    def execute(self, *statements: str, database: str | None = None) -> list[list[tuple[object, ...]]]:
        import asyncpg

        async def run() -> list[list[tuple[object, ...]]]:
            connection = await asyncpg.connect(self.dsn(database))
            try:
                return [[tuple(row) for row in await connection.fetch(s)] for s in statements]
            finally:
                await connection.close()

        return asyncio.run(run())

    def create(self, database: str, template: str | None = None) -> str:
        self.made.append(database)
        clone = f' TEMPLATE "{template}"' if template else ""
        self.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)', f'CREATE DATABASE "{database}"{clone}')
        return database

    def drop(self, database: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        if database in self.made:
            self.made.remove(database)

    def drop_all(self) -> None:
        for database in reversed(list(self.made)):
            self.drop(database)

    def checkpoint(self) -> None:
        """Flush what earlier steps left dirty, so a timed step doesn't pay for it."""
        self.execute("CHECKPOINT")


# --- children: planning --------------------------------------------------------------------------------------


async def plan_with_newsbot(database_url: str, data_dir: Path) -> dict[str, float]:
    sys.path.insert(0, str(REPO))
    from bot.app.config import Settings
    from bot.app.newsroom import Newsroom
    from bot.stories.story import Story
    from subscribers import deliveries, stories

    story = Story(id=STORY_ID, title="Bench", body="Bench story.", summary="Bench story.", topics=("north-korea",))
    settings = Settings(data_dir=data_dir, database_url=database_url)
    async with await Newsroom.open(settings) as newsroom:
        started = time.perf_counter()
        async with newsroom.engine.begin() as conn:
            now = datetime.now(UTC)
            await stories.save_story(conn, story, now)
            planned = await deliveries.plan_story_deliveries(conn, story, now)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "planned": planned}


async def plan_bare(dsn: str) -> dict[str, float]:
    import asyncpg

    db = await asyncpg.connect(dsn)
    try:
        now = datetime.now(UTC)
        started = time.perf_counter()
        async with db.transaction():
            await db.execute(
                "INSERT INTO stories (id, title, body, summary, breaking, created_at)"
                " VALUES ($1, 'Bench', 'B', 'B', false, $2)",
                STORY_ID,
                now,
            )
            await db.execute("INSERT INTO story_topics (story_id, topic, position) VALUES ($1, 'north-korea', 0)",
                             STORY_ID)
            status = await db.execute(BARE_PLAN, STORY_ID, now)
        seconds = time.perf_counter() - started
    finally:
        await db.close()
    return {"seconds": seconds, "planned": int(status.split()[-1])}


# --- child: an SMTP sink that counts on its own clock ---------------------------------------------------------


class SinkCounts:
    """What the counting sink saw: accepted messages, when the first and last were accepted, distinct recipients."""

    def __init__(self) -> None:
        self.accepted = 0
        self.first_accepted_at: float | None = None
        self.last_accepted_at: float | None = None
        self.recipients: set[bytes] = set()

    def as_json(self) -> str:
        return json.dumps({"accepted": self.accepted, "first_accepted_at": self.first_accepted_at,
                           "last_accepted_at": self.last_accepted_at, "distinct_recipients": len(self.recipients)})


class _CountingTransport:
    """Wraps a sink session's transport: each `250 2.0.0 queued` written back is one accepted message."""

    def __init__(self, transport: asyncio.Transport, counts: SinkCounts) -> None:
        self._transport = transport
        self._counts = counts

    def write(self, data: bytes) -> None:
        if data.startswith(b"250 2.0.0 queued"):
            now = time.monotonic()
            self._counts.accepted += 1
            self._counts.first_accepted_at = self._counts.first_accepted_at or now
            self._counts.last_accepted_at = now
        self._transport.write(data)

    def __getattr__(self, name: str) -> object:
        return getattr(self._transport, name)


def serve_counting_sink() -> None:
    """bench/smtp_discard.py's sink, also counting accepted messages (on its own clock) and distinct recipients."""
    from smtp_discard import DiscardSession

    counts = SinkCounts()

    class CountingSession(DiscardSession):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.commands = b""
            super().connection_made(_CountingTransport(transport, counts))  # type: ignore[arg-type]

        def data_received(self, data: bytes) -> None:
            if not self.in_data:
                # The sink offers no PIPELINING, so a client sends one command and waits for the answer: outside
                # DATA, what arrives is command lines only.
                self.commands += data
                *lines, self.commands = self.commands.split(b"\r\n")
                counts.recipients.update(line[8:].strip().lower() for line in lines if line[:8].upper() == b"RCPT TO:")
            super().data_received(data)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(CountingSession, "127.0.0.1", 0)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        print(f"smtp://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
        await stop.wait()
        server.close()
        print(counts.as_json(), flush=True)

    try:
        import uvloop

        uvloop.run(serve())
    except ImportError:
        asyncio.run(serve())


@contextmanager
def counting_smtp_sink() -> Iterator[tuple[str, int, dict[str, float]]]:
    """The counting sink in its own process; yields (smtp URL, pid, stats filled in when the block ends)."""
    sink = subprocess.Popen([sys.executable, __file__, "--smtp-sink"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    stats: dict[str, float] = {}
    try:
        assert sink.stdout is not None
        url = sink.stdout.readline().strip()
        if not url.startswith("smtp://127.0.0.1:"):
            sys.exit("the SMTP sink did not start")
        yield url, sink.pid, stats
    finally:
        sink.terminate()
        out, _ = sink.communicate(timeout=10)
        if out.strip():
            stats.update(json.loads(out.strip().splitlines()[-1]))


# --- the parent ----------------------------------------------------------------------------------------------


def measure_planning(server: Server, base: str, subscribers: int, folder: Path) -> list[tuple[str, str]]:
    filled_db = server.create(server.name("plan"), template=base)
    started = time.perf_counter()
    followers = add_bench_readers_postgres(
        server.dsn(filled_db), subscribers, story_topic_share=0.3, email_share=0.5, email_cadence="weekly"
    )
    filled = time.perf_counter() - started
    ours_db = server.create(server.name("plan_newsbot"), template=filled_db)
    bare_db = server.create(server.name("plan_bare"), template=filled_db)
    env = newsbot_env(folder / "plan")
    server.checkpoint()
    child = [sys.executable, __file__, "--newsbot-plan-child", server.sqlalchemy_url(ours_db), folder / "plan"]
    ours = run_child(child, env, folder)
    server.checkpoint()
    bare = run_child([sys.executable, __file__, "--bare-plan-child", server.dsn(bare_db)], env, folder)
    for database in (ours_db, bare_db, filled_db):
        server.drop(database)
    ours_result, bare_result = ours.last_json(), bare.last_json()
    if not ours_result["planned"] == bare_result["planned"] == followers:
        sys.exit(f"planned {ours_result['planned']} vs bare {bare_result['planned']} vs {followers} followers")
    print_table(
        f"PostgreSQL: planning one story for {subscribers:,} subscribers ({followers:,} follow its topic;"
        f" filled with COPY in {filled:.0f} s)",
        [
            ("newsbot plan_story_deliveries", f"{ours_result['seconds']:.2f} s"),
            ("bare asyncpg INSERT ... SELECT", f"{bare_result['seconds']:.2f} s"),
            ("ratio (bare / newsbot, goal >= 0.8)", f"{bare_result['seconds'] / ours_result['seconds']:.2f}"),
            ("peak RSS, newsbot child", f"{ours.peak_rss_mb:.0f} MB"),
            ("peak RSS, bare child", f"{bare.peak_rss_mb:.0f} MB"),
        ],
    )
    print(flush=True)
    ratio = bare_result["seconds"] / ours_result["seconds"]
    return [("planning, newsbot vs bare (ratio)", f"{ours_result['seconds']:.2f} s vs {bare_result['seconds']:.2f} s"
                                                  f" ({ratio:.2f})")]


OUTCOME_QUERIES = (
    "SELECT status, count(*) FROM deliveries GROUP BY status",
    # `claimed_by` stays on a sent row: how many each worker sent.
    "SELECT count(*) FROM deliveries WHERE status = 'sent' GROUP BY claimed_by ORDER BY 1 DESC",
)


@dataclass(frozen=True)
class Store:
    """Where one fan-out's story is planned: a data dir and the settings naming its database."""

    label: str
    data_dir: Path
    settings: dict[str, str]
    #: Deliveries by status, and how many each worker sent.
    outcome: Callable[[], tuple[dict[str, int], list[int]]]
    drop: Callable[[], None] = lambda: None


def sqlite_store(folder: Path, name: str, readers: int, **kwargs: Any) -> Store:
    """A SQLite store (the default backend) for the same fan-out, as the baseline measured the same way."""
    database = migrate(folder / name)
    if readers:
        add_bench_readers(database, readers, story_topic_share=1.0, topics_per_reader=0, **kwargs)
        run_child([NEWSBOT, "ingest", SAMPLE_STORY], newsbot_env(folder / name), folder)

    def outcome() -> tuple[dict[str, int], list[int]]:
        with closing(sqlite3.connect(database)) as db:
            statuses, per_worker = (db.execute(query).fetchall() for query in OUTCOME_QUERIES)
        return dict(statuses), [n for (n,) in per_worker]

    return Store("SQLite", folder / name, {}, outcome)


def postgres_store(server: Server, template: str, name: str, folder: Path) -> Store:
    """A fresh copy of *template*, dropped by the store's `drop`."""
    database = server.create(server.name(name), template=template)

    def outcome() -> tuple[dict[str, int], list[int]]:
        statuses, per_worker = server.execute(*OUTCOME_QUERIES, database=database)
        return {str(s): int(n) for s, n in statuses}, [int(n) for (n,) in per_worker]  # type: ignore[call-overload]

    return Store("PostgreSQL", folder / name, {"database_url": server.sqlalchemy_url(database)}, outcome,
                 lambda: server.drop(database))


def fill_and_plan(server: Server, base: str, name: str, folder: Path, readers: int, **kwargs: Any) -> str:
    """A PostgreSQL database with *readers* following the sample story's topic, the story planned (`ingest`)."""
    database = server.create(server.name(name), template=base)
    add_bench_readers_postgres(server.dsn(database), readers, story_topic_share=1.0, topics_per_reader=0, **kwargs)
    run_child([NEWSBOT, "ingest", SAMPLE_STORY],
              newsbot_env(folder / name, database_url=server.sqlalchemy_url(database)), folder)
    return database


@contextmanager
def counting_bot_api() -> Iterator[tuple[str, int, dict[str, float]]]:
    """The fake Bot API without a limit, as :func:`counting_smtp_sink`: (URL, pid, stats filled in at the end)."""
    stats: dict[str, float] = {}
    with fake_bot_api() as (url, pid):
        yield url, pid, stats
        stats.update(fake_stats(url))


@dataclass(frozen=True)
class FanOut:
    label: str
    rate: float  # aggregate messages/s on the fake's or the sink's clock
    messages: int
    duplicates: int
    per_worker: list[int]
    cpu_ms: float  # client CPU per message, all workers, start-up excluded
    idle_cpu: float
    wall: float  # slowest worker, start-up included
    server_cpu: float
    rss_mb: list[float]
    too_many_requests: int = 0


def fan_out(store: Store, idle: Store, workers: int, channel: str, folder: Path) -> FanOut:
    """Deliver *store*'s planned story with *workers* concurrent `newsbot deliver` processes, and measure it."""
    server_of = counting_bot_api if channel == "telegram" else counting_smtp_sink
    with server_of() as (url, pid, stats):
        if channel == "telegram":
            settings = {"telegram_token": "123456:BENCH", "telegram_api_url": url, "telegram_paid_broadcast": "1"}
        else:
            settings = {"smtp_url": url}
        idle_run = run_child([NEWSBOT, "deliver"], newsbot_env(idle.data_dir, **idle.settings, **settings), folder)
        server_before = cpu_seconds_of(pid)
        env = newsbot_env(store.data_dir, **store.settings, **settings)
        runs = run_children([[NEWSBOT, "deliver"] for _ in range(workers)], env, folder, timeout=300)
        server_cpu = cpu_seconds_of(pid) - server_before
    statuses, per_worker = store.outcome()
    store.drop()
    planned = sum(statuses.values())
    if statuses != {"sent": planned}:
        sys.exit(f"{store.label}, {workers} {channel} workers left {statuses}")
    messages = int(stats["sent"] if channel == "telegram" else stats["accepted"])
    # Telegram: each chat has one delivery, each sent one message the fake accepted; email: the sink saw them all.
    distinct = statuses["sent"] if channel == "telegram" else int(stats["distinct_recipients"])
    span = (stats["last_accepted_at"] or 0) - (stats["first_accepted_at"] or 0)
    return FanOut(
        label=f"{store.label}, {workers} worker{'s' if workers > 1 else ''}",
        rate=(messages - 1) / span if span > 0 else 0.0,
        messages=messages,
        duplicates=messages - distinct,
        per_worker=per_worker,
        cpu_ms=(sum(run.cpu for run in runs) - workers * idle_run.cpu) / max(messages, 1) * 1000,
        idle_cpu=idle_run.cpu,
        wall=max(run.wall for run in runs),
        server_cpu=server_cpu,
        rss_mb=[run.peak_rss_mb for run in runs],
        too_many_requests=int(stats.get("too_many_requests", 0)),
    )


def measure_fan_outs(server: Server, base: str, channel: str, messages: int, folder: Path) -> list[FanOut]:
    """The SQLite baseline with one worker, then PostgreSQL with 1, 2 and 4, all measured the same way."""
    readers = {} if channel == "telegram" else {"email_share": 1.0, "email_cadence": "instant", "telegram": False}
    results = [fan_out(sqlite_store(folder, f"{channel}_sqlite", messages, **readers),
                       sqlite_store(folder, f"{channel}_sqlite_idle", 0), 1, channel, folder)]
    planned = fill_and_plan(server, base, f"{channel}_planned", folder, messages, **readers)
    for workers in WORKER_COUNTS:
        idle = postgres_store(server, base, f"{channel}_idle_{workers}", folder)
        results.append(fan_out(postgres_store(server, planned, f"{channel}_{workers}", folder), idle, workers,
                               channel, folder))
        idle.drop()
    server.drop(planned)
    return results


def print_fan_outs(title: str, results: list[FanOut], *, limit: float | None) -> None:
    rows = []
    for result in results:
        rate = f"{result.rate:,.0f} messages/s"
        if limit:
            rate += f" ({result.rate / limit:.2f} of {limit:,.0f}/s)"
            if result.rate > limit * 1.1:  # (a short run's average overshoots a little by itself)
                rate += ": ABOVE the shared limit"
        rows += [
            (f"{result.label}: rate", f"{rate}; {result.messages:,} messages, {result.duplicates} duplicates"
                                      + (f", {result.too_many_requests} 429s" if limit else "")),
            (f"{result.label}: sent per worker", " / ".join(f"{n:,}" for n in result.per_worker)),
            (f"{result.label}: client CPU per message",
             f"{result.cpu_ms:.2f} ms, all workers (start-up, {result.idle_cpu:.1f} s CPU each, excluded)"),
            (f"{result.label}: wall of the slowest worker",
             f"{result.wall:.1f} s; {'fake Bot API' if limit else 'sink'} CPU {result.server_cpu:.1f} s"),
            (f"{result.label}: peak RSS per worker", " / ".join(f"{mb:.0f}" for mb in result.rss_mb) + " MB"),
        ]
    print_table(title, rows)
    print(flush=True)


def summary_rows(channel: str, results: list[FanOut]) -> list[tuple[str, str]]:
    return [
        (f"{channel}, {result.label}",
         f"{result.rate:,.0f} messages/s, {result.duplicates} duplicates, {result.cpu_ms:.2f} ms CPU/message, "
         f"peak RSS {max(result.rss_mb):.0f} MB")
        for result in results
    ]


def main() -> None:
    if sys.argv[1:2] == ["--newsbot-plan-child"]:
        print(json.dumps(asyncio.run(plan_with_newsbot(sys.argv[2], Path(sys.argv[3])))))
        return
    if sys.argv[1:2] == ["--bare-plan-child"]:
        print(json.dumps(asyncio.run(plan_bare(sys.argv[2]))))
        return
    if sys.argv[1:2] == ["--smtp-sink"]:
        serve_counting_sink()
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="a PostgreSQL server (and a database to connect to for CREATE DATABASE)")
    parser.add_argument("--size-factor", type=float, default=1.0, help="scales every size (0.05: a quick run)")
    args = parser.parse_args()
    subscribers = max(1000, int(1_000_000 * args.size_factor))
    messages = max(200, int(20_000 * args.size_factor))
    server = Server(args.postgres_url)
    (version, buffers), = server.execute("SELECT split_part(version(), ' ', 2), current_setting('shared_buffers')")[0]
    print(f"PostgreSQL {version} (shared_buffers {buffers}) at {server.dsn()}; scratch databases {server.prefix}_*\n",
          flush=True)
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            base = server.create(server.name("base"))
            env = newsbot_env(folder / "base", database_url=server.sqlalchemy_url(base))
            run_child([NEWSBOT, "db", "upgrade"], env, folder)
            summary = measure_planning(server, base, subscribers, folder)
            telegram = measure_fan_outs(server, base, "telegram", messages, folder)
            print_fan_outs(f"Telegram, paid broadcast (1,000/s split between the live workers), {messages:,} chats",
                           telegram, limit=PAID_LIMIT)
            email = measure_fan_outs(server, base, "email", messages, folder)
            print_fan_outs(f"Email, {messages:,} recipients, 4 SMTP connections per worker, into a local sink",
                           email, limit=None)
            summary += summary_rows("Telegram paid", telegram) + summary_rows("email", email)
    finally:
        server.drop_all()
    print_table(f"Summary ({subscribers:,} subscribers planned, {messages:,} messages per fan-out; "
                f"{time.perf_counter() - started:.0f} s in all)", summary)


if __name__ == "__main__":
    main()
