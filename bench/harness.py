"""What the benchmarks share: measured child processes, fakes in their own processes, and bulk test readers.

Each measured part runs in its own process so that its wall time, CPU time and peak RSS are its own (read with
`os.wait4`), and the fakes it talks to run in other processes, on 127.0.0.1 only, so they never share its core.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from subscribers.email_keys import email_key

REPO = Path(__file__).resolve().parent.parent
NEWSBOT = Path(sys.executable).with_name("newsbot")
SAMPLE_STORY = REPO / "examples" / "stories" / "north-korea.txt"
#: Topics of the built-in taxonomy that bench readers follow besides the story's own.
OTHER_TOPICS = ("us-politics", "world", "local", "sports", "business", "weather", "tech", "science", "health")


@dataclass(frozen=True)
class ChildRun:
    """A finished child process: wall seconds, CPU seconds (user + system), peak RSS in MB, its stdout."""

    wall: float
    cpu: float
    peak_rss_mb: float
    stdout: str

    def last_json(self) -> dict[str, object]:
        """The JSON object a child printed as its last line (how children report their own timings)."""
        return json.loads(self.stdout.strip().splitlines()[-1])


def run_child(argv: Sequence[str | Path], env: dict[str, str], cwd: Path) -> ChildRun:
    """Run a command to completion and measure it; a failure stops the benchmark with the child's stderr."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen([str(a) for a in argv], env=env, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            sys.exit(f"{' '.join(map(str, argv))} failed:\n{err.read().decode(errors='replace')}")
        stdout = out.read().decode()
    return ChildRun(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stdout)


def newsbot_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment for a newsbot child: no NEWSBOT_* of the machine, only what the benchmark sets."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("NEWSBOT_")}
    env["NEWSBOT_DATA_DIR"] = str(data_dir)
    env["NEWSBOT_SECRET_KEY"] = "bench-secret-of-at-least-32-characters"
    env.update({f"NEWSBOT_{name.upper()}": value for name, value in settings.items()})
    return env


def cpu_seconds_of(pid: int) -> float:
    """CPU time so far of another process (Linux), e.g. a fake server, to show it was not the bottleneck."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served(module: str, *args: str, what: str) -> Iterator[tuple[str, int]]:
    """``python -m module --port 0 *args`` in its own process, a fake that prints its URL last on its first line;
    yields (that URL, pid) and stops it afterwards."""
    argv = [sys.executable, "-m", module, "--port", "0", *args]
    server = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split()[-1]
        if not url.startswith("http://127.0.0.1:"):
            sys.exit(f"{what} did not start")
        yield url, server.pid
    finally:
        server.terminate()
        server.wait(timeout=10)


@contextmanager
def fake_bot_api(rate_limit: int | None = None) -> Iterator[tuple[str, int]]:
    """The fake Bot API in its own process on 127.0.0.1; yields (base URL, pid)."""
    limit = ("--rate-limit", str(rate_limit)) if rate_limit else ()
    with served("tests.fakes", *limit, what="the fake Bot API") as running:
        yield running


def fake_stats(url: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{url}/stats", timeout=10) as answer:
        return json.loads(answer.read())


def migrate(data_dir: Path) -> Path:
    """A fresh, migrated store; returns the SQLite file."""
    run_child([NEWSBOT, "db", "upgrade"], newsbot_env(data_dir), data_dir.parent)
    return data_dir / "newsbot.sqlite3"


@dataclass(frozen=True, slots=True)
class BenchReader:
    id: int
    email: str | None
    topics: tuple[str, ...]

    @property
    def chat(self) -> str:
        return str(10_000_000 + self.id)


def bench_readers(
    ids: range, *, story_topic_share: float, email_share: float, topics_per_reader: int
) -> Iterator[BenchReader]:
    """The benchmark readers with these ids, the same on every store: a deterministic share has an email address,
    *story_topic_share* of them follow north-korea (spread evenly), each follows a varied set of other topics."""
    for i in ids:
        spread = (i * 7919) % 1000
        topics = ["north-korea"] if spread < story_topic_share * 1000 else []
        topics += [OTHER_TOPICS[(i * (k + 3) + k) % len(OTHER_TOPICS)] for k in range(topics_per_reader)]
        email = f"reader{i}@example.org" if spread < email_share * 1000 else None
        yield BenchReader(i, email, tuple(dict.fromkeys(topics)))


def add_bench_readers(
    database: Path,
    count: int,
    *,
    story_topic_share: float,
    telegram_cadence: str = "instant",
    email_cadence: str | None = None,
    email_share: float = 0.0,
    topics_per_reader: int = 3,
    telegram: bool = True,
) -> int:
    """Insert *count* readers straight into SQLite (fast); returns how many follow "north-korea".

    Reader *i* has Telegram chat 10,000,000 + i (unless *telegram* is false), a share of them an email address;
    *story_topic_share* of them follow north-korea (spread evenly), and each follows a varied set of other topics.
    """
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    db = sqlite3.connect(database)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    followers = 0
    step = 50_000
    with db:
        start = db.execute("SELECT coalesce(max(id), 0) FROM subscribers").fetchone()[0] + 1
        for low in range(start, start + count, step):
            ids = range(low, min(low + step, start + count))
            readers = list(bench_readers(ids, story_topic_share=story_topic_share,
                                         email_share=email_share if email_cadence else 0.0,
                                         topics_per_reader=topics_per_reader))  # fmt: skip
            db.executemany("INSERT INTO subscribers (id, created_at) VALUES (?, ?)", ((r.id, now) for r in readers))
            if telegram:
                db.executemany(
                    "INSERT INTO addresses (subscriber_id, channel, address, cadence, status, breaking_email,"
                    " bounce_count, created_at, updated_at) VALUES (?, 'telegram', ?, ?, 'active', 0, 0, ?, ?)",
                    ((r.id, r.chat, telegram_cadence, now, now) for r in readers),
                )
            db.executemany(
                "INSERT INTO addresses (subscriber_id, channel, address, email_key, cadence, status, breaking_email,"
                " bounce_count, confirmed_at, created_at, updated_at)"
                " VALUES (?, 'email', ?, ?, ?, 'active', 0, 0, ?, ?, ?)",
                ((r.id, r.email, email_key(r.email), email_cadence, now, now, now) for r in readers if r.email),
            )
            db.executemany(
                "INSERT INTO follows (subscriber_id, topic, created_at) VALUES (?, ?, ?)",
                ((r.id, topic, now) for r in readers for topic in r.topics),
            )
            followers += sum("north-korea" in r.topics for r in readers)
    db.execute("ANALYZE")
    db.close()
    return followers


def add_bench_readers_postgres(
    dsn: str,
    count: int,
    *,
    story_topic_share: float,
    telegram_cadence: str = "instant",
    email_cadence: str | None = None,
    email_share: float = 0.0,
    topics_per_reader: int = 3,
    telegram: bool = True,
) -> int:
    """The readers of :func:`add_bench_readers`, written into a migrated PostgreSQL database with COPY.

    *dsn* is a plain ``postgresql://`` URL (asyncpg's). Same readers, same ids, same follows; returns how many
    follow "north-korea". Ends with VACUUM ANALYZE, so plans and visibility maps are those of a settled store.
    """
    import asyncio

    import asyncpg

    async def fill() -> int:
        db = await asyncpg.connect(dsn)
        try:
            now = datetime.now(UTC)
            start = await db.fetchval("SELECT coalesce(max(id), 0) FROM subscribers") + 1
            followers = 0
            step = 50_000
            for low in range(start, start + count, step):
                ids = range(low, min(low + step, start + count))
                readers = list(bench_readers(ids, story_topic_share=story_topic_share,
                                             email_share=email_share if email_cadence else 0.0,
                                             topics_per_reader=topics_per_reader))  # fmt: skip
                async with db.transaction():
                    await db.copy_records_to_table(
                        "subscribers", records=[(r.id, now) for r in readers], columns=["id", "created_at"]
                    )
                    columns = [
                        "subscriber_id",
                        "channel",
                        "address",
                        "email_key",
                        "cadence",
                        "status",
                        "breaking_email",
                        "bounce_count",
                        "confirmed_at",
                        "created_at",
                        "updated_at",
                    ]
                    rows = []
                    if telegram:
                        rows += [
                            (r.id, "telegram", r.chat, None, telegram_cadence, "active", False, 0, None, now, now)
                            for r in readers
                        ]
                    rows += [
                        (r.id, "email", r.email, email_key(r.email), email_cadence, "active", False, 0, now, now, now)
                        for r in readers
                        if r.email
                    ]
                    if rows:
                        await db.copy_records_to_table("addresses", records=rows, columns=columns)
                    await db.copy_records_to_table(
                        "follows",
                        records=[(r.id, topic, now) for r in readers for topic in r.topics],
                        columns=["subscriber_id", "topic", "created_at"],
                    )
                followers += sum("north-korea" in r.topics for r in readers)
            for table in ("subscribers", "addresses"):
                await db.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), greatest(max(id), 1), max(id) IS NOT NULL)"
                    f" FROM {table}"
                )
            await db.execute("VACUUM ANALYZE")
            return followers
        finally:
            await db.close()

    return asyncio.run(fill())


def run_children(
    argvs: Sequence[Sequence[str | Path]], env: dict[str, str], cwd: Path, *, timeout: float = 600.0
) -> list[ChildRun]:
    """Start several commands at once and measure each like :func:`run_child` (wall time from the common start).

    A failure, or anything still running after *timeout* seconds (then killed), stops the benchmark.
    """
    with contextlib.ExitStack() as files:
        outs = [
            (files.enter_context(tempfile.TemporaryFile()), files.enter_context(tempfile.TemporaryFile()))
            for _ in argvs
        ]
        started = time.perf_counter()
        children = [
            subprocess.Popen([str(a) for a in argv], env=env, cwd=cwd, stdout=out, stderr=err)
            for argv, (out, err) in zip(argvs, outs, strict=True)
        ]
        finished: dict[int, ChildRun] = {}
        failure = ""
        while len(finished) < len(children) and not failure:
            if time.perf_counter() - started > timeout:
                failure = f"{len(children) - len(finished)} of {len(children)} children still ran after {timeout:.0f} s"
                break
            for child, (out, err) in zip(children, outs, strict=True):
                if child.pid in finished:
                    continue
                pid, status, usage = os.wait4(child.pid, os.WNOHANG)
                if pid == 0:
                    continue
                wall = time.perf_counter() - started
                child.returncode = os.waitstatus_to_exitcode(status)
                out.seek(0)
                err.seek(0)
                if child.returncode != 0:
                    failure = f"{' '.join(map(str, child.args))} failed:\n{err.read().decode(errors='replace')}"
                finished[child.pid] = ChildRun(
                    wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.read().decode()
                )
            time.sleep(0.01)
        if failure:
            for child in children:
                if child.pid not in finished:
                    child.kill()
                    child.wait()
            sys.exit(failure)
    return [finished[child.pid] for child in children]


def stop_child(child: subprocess.Popen[bytes], signum: int, *, timeout: float) -> None:
    """Ask a child to stop with *signum*, as an operator would, and wait; killed if still there after *timeout*."""
    child.send_signal(signum)
    try:
        child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def print_table(title: str, rows: Sequence[tuple[str, str]]) -> None:
    """The figures, with the machine's load average: other work on the machine skews them."""
    print(title)
    rows = [*rows, ("load average (1, 5, 15 min)", ", ".join(f"{x:.1f}" for x in os.getloadavg()))]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
