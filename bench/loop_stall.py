"""Benchmark: does the event loop stall while `newsbot run` fans out, polls a 5 MB feed and takes API stories?

Run: .venv/bin/python bench/loop_stall.py [CHATS]
Goal: max loop stall <= 50 ms, and the send rate >= 0.95 of Telegram's paid limit (1,000 messages/s).

`newsbot run` (a real process, every role) sends one story to CHATS chats (default 30,000) through the fake Bot API
(its own process, no limit of its own) at the paid-broadcast limit, while it polls a 5 MB feed every 10 s (served
by another process; the feed gains an entry at every request, so every poll parses all of it) and the benchmark
posts 10 stories a second to its stories API. The send rate is the fake's (first to last accepted message). The
stall is what the process reports about itself on /metrics: `newsbot_event_loop_lag_max_seconds`, how late its
10 ms loop-lag callback fired at worst in the last 10 s, scraped every second; only scrapes whose 10 s lie inside
the fan-out count. Next to it: the same 5 MB parse timed here, on this machine now, which is how long the loop
would have stalled with the parse on it. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import feedparser
from harness import (
    NEWSBOT,
    REPO,
    SAMPLE_STORY,
    add_bench_readers,
    cpu_seconds_of,
    fake_bot_api,
    fake_stats,
    free_port,
    migrate,
    newsbot_env,
    print_table,
    run_child,
    served,
    stop_child,
)
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(REPO))
from tests.fakes.big_feed import big_feed

LIMIT = 1000.0
TOKEN = "bench-api-token-of-some-length"
STORIES_PER_SECOND = 10
WINDOW = 10.0  # seconds newsbot_event_loop_lag_max_seconds looks back


@contextmanager
def feed_server() -> Iterator[tuple[str, int]]:
    """The 5 MB feed in its own process; yields its base URL and pid."""
    with served("tests.fakes.big_feed", what="the feed server") as (url, pid):
        yield url.removesuffix("/feed.xml"), pid


def get(url: str, *, token: str | None = None) -> bytes:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.read()


def loop_lag_max(web: str) -> float:
    text = get(f"{web}/metrics", token=TOKEN).decode()
    for family in text_string_to_metric_families(text):
        if family.name == "newsbot_event_loop_lag_max_seconds":
            return family.samples[0].value
    sys.exit("/metrics has no newsbot_event_loop_lag_max_seconds")


def children_of(pid: int) -> list[int]:
    """The live child processes of *pid* (Linux): `newsbot run`'s parsing processes."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # ended meanwhile
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def cpu_by_part(newsbot: int, fake: int, feeds: int) -> dict[str, float]:
    """CPU seconds so far of each process of the benchmark (the parsing processes together)."""
    pools = 0.0
    for pid in children_of(newsbot):
        with contextlib.suppress(OSError):
            pools += cpu_seconds_of(pid)
    times = os.times()
    loop_thread = Path(f"/proc/{newsbot}/task/{newsbot}/stat").read_text().rsplit(")", 1)[1].split()
    return {
        "newsbot run (its loop and threads)": cpu_seconds_of(newsbot),
        "of which its loop's thread": (int(loop_thread[11]) + int(loop_thread[12])) / os.sysconf("SC_CLK_TCK"),
        "its parsing processes": pools,
        "fake Bot API": cpu_seconds_of(fake),
        "5 MB feed server": cpu_seconds_of(feeds),
        "this script (stories, scrapes)": times.user + times.system,
    }


def post_stories(web: str, stop: threading.Event, accepted: list[float]) -> None:
    """10 new stories a second to the stories API (the time each was accepted is appended to *accepted*)."""
    started = time.perf_counter()
    for n in range(1_000_000):
        due = started + n / STORIES_PER_SECOND
        if stop.wait(max(0.0, due - time.perf_counter())):
            return
        body = (
            f"The harbour board met for the {n}th time on Wednesday and approved the new ferry timetable. "
            "Commuters on the east side will get two more morning crossings from January.\n\n"
        ) * 20
        request = urllib.request.Request(
            f"{web}/api/stories",
            method="POST",
            data=json.dumps({"title": f"Ferry timetable, update {n}", "body": body, "topics": ["local"]}).encode(),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                if answer.status in (200, 201):
                    accepted.append(time.perf_counter())
        except OSError as exc:  # refused, or no answer within 30 s (a URLError or a TimeoutError)
            if not stop.is_set():
                print(f"story {n} not accepted: {exc}", file=sys.stderr)


def wait_until_up(web: str, child: subprocess.Popen[bytes]) -> None:
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline:
        if child.poll() is not None:
            sys.exit("newsbot run ended before it served")
        try:
            get(f"{web}/healthz")
            return
        except OSError:
            time.sleep(0.2)
    sys.exit("newsbot run did not serve within 120 s")


def main() -> None:
    chats = int(sys.argv[1]) if len(sys.argv) > 1 else 30_000
    content = big_feed(5_000_000, now=datetime.now(UTC))
    started = time.perf_counter()
    feedparser.parse(content)
    bare_parse = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        database = migrate(folder / "data")
        add_bench_readers(database, chats, story_topic_share=1.0, topics_per_reader=0)
        with fake_bot_api() as (api, fake_pid), feed_server() as (feeds, feeds_pid):
            port = free_port()
            web = f"http://127.0.0.1:{port}"
            env = newsbot_env(
                folder / "data",
                telegram_token="123456:BENCH",
                telegram_api_url=api,
                telegram_paid_broadcast="1",
                api_token=TOKEN,
                feeds=f"{feeds}/feed.xml",
                feed_interval="10",
                web_port=str(port),
            )
            log = (folder / "newsbot-run.log").open("wb")
            child = subprocess.Popen([str(NEWSBOT), "run"], env=env, cwd=folder, stdout=log, stderr=log)
            stop = threading.Event()
            accepted: list[float] = []
            poster = threading.Thread(target=post_stories, args=(web, stop, accepted), daemon=True)
            scrapes: list[tuple[float, float]] = []  # (time, lag max of the 10 s before it)
            try:
                wait_until_up(web, child)
                poster.start()
                # The fan-out story is ingested once the API is taking stories, so they overlap from the start.
                run_child([NEWSBOT, "ingest", SAMPLE_STORY], env, folder)
                first = None
                while True:
                    time.sleep(1.0)
                    stats = fake_stats(api)
                    if stats["sent"] and first is None:
                        first = time.perf_counter()
                        sent_at_first, cpu_at_first = stats["sent"], cpu_by_part(child.pid, fake_pid, feeds_pid)
                    scrapes.append((time.perf_counter(), loop_lag_max(web)))
                    if stats["sent"] >= chats or child.poll() is not None:
                        break
                last = time.perf_counter()
                cpu = cpu_by_part(child.pid, fake_pid, feeds_pid)
                polls = int(get(f"{feeds}/polls"))
            finally:
                stop.set()
                stop_child(child, signal.SIGINT, timeout=60)
                log.close()
            if child.returncode not in (0, None) or first is None:
                sys.exit(f"newsbot run failed:\n{(folder / 'newsbot-run.log').read_text(errors='replace')[-3000:]}")
    span = (stats["last_accepted_at"] or 0) - (stats["first_accepted_at"] or 0)
    rate = (stats["sent"] - 1) / span if span > 0 else 0.0
    inside = [lag for at, lag in scrapes if first + WINDOW <= at <= last]
    if not inside:
        sys.exit(f"the fan-out took under {WINDOW:.0f} s: pass more chats")
    stories = [at for at in accepted if first <= at <= last]
    stall = max(inside)
    messages = max(1.0, stats["sent"] - sent_at_first)
    spent = {part: cpu[part] - cpu_at_first[part] for part in cpu}
    per_message = [(f"  {part}", f"{seconds / messages * 1000:.2f} ms") for part, seconds in spent.items()]
    total = sum(seconds for part, seconds in spent.items() if not part.startswith("of which"))
    cores = total / (last - first)
    print_table(
        f"Loop stall: newsbot run fanning out to {int(stats['sent']):,} of {chats:,} chats",
        [
            ("send rate (fake's clock)", f"{rate:,.0f} messages/s ({rate / LIMIT:.2f} of the 1,000/s limit)"),
            ("API stories accepted during it", f"{len(stories) / (last - first):.1f} a second ({len(stories)})"),
            ("5 MB feed polls parsed", f"{polls} (every 10 s)"),
            ("5 MB feed parse, bare, here", f"{bare_parse * 1000:,.0f} ms (the stall if it ran on the loop)"),
            ("loop-lag scrapes inside the fan-out", f"{len(inside)}"),
            ("CPU per message sent, during the fan-out", f"{total / messages * 1000:.2f} ms"),
            *per_message,
            ("cores busy during the fan-out", f"{cores:.2f} of {os.cpu_count()}"),
        ],
    )
    print(f"max loop stall: {stall * 1000:.0f} ms")


if __name__ == "__main__":
    main()
