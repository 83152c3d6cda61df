"""Breaking news overtakes the bulk: how soon 90% of a breaking story's readers have it while a digest and a normal
story fan out.

Run: .venv/bin/python bench/breaking_lane.py [--readers 10000] [--bulk 15000] [--workers 1]
                                             [--postgres postgresql://postgres@127.0.0.1:5432/test]
The store (SQLite, or a scratch PostgreSQL database `newsbot_bench_<pid>_*`, dropped at the end) holds three groups:
*readers* who follow north-korea with an instant chat and an instant email (the breaking story's readers), *bulk*
weekly readers (chat and email) whose topics had stories last week, and *bulk* instant readers of other topics. The
week's digest is queued for the weekly ones before the processes start. Then `newsbot run --role web` and *workers*
`newsbot run --role worker` processes start, sending Telegram at the paid limit to the fake Bot API (no limit of its
own) and email into a local SMTP sink, each in its own process; a normal story for the instant bulk readers goes in
through `POST /api/stories`. Once the bulk has been flowing for a few seconds the editor presses Send:
`POST /api/stories` with `"breaking": true`. The fake and the sink record when each message arrives (on the
machine's monotonic clock, which the parent reads when it sends the request), so per channel the script prints the
seconds from Send until 90% of the breaking story's readers were reached, the ideal (readers / that channel's rate
measured over this run, bulk included), and as its last line `breaking p90 / ideal: N.NN` for the worse channel.
Goal: <= 1.2, i.e. the bulk yields at once. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness import (
    NEWSBOT,
    REPO,
    add_bench_readers,
    add_bench_readers_postgres,
    fake_bot_api,
    free_port,
    migrate,
    newsbot_env,
    print_table,
    run_child,
)

GOAL = 1.2
API_TOKEN = "bench-api-token-0123456789"
#: In the breaking story's title, so the fake and the sink tell its messages from the bulk's.
MARK = "Breaking-bench-alert"
NORMAL_TOPICS = ["world", "local", "sports", "business", "weather", "tech", "science", "health", "us-politics"]
#: Stories of last week, for the digest: each in two of the bulk readers' topics.
DIGEST_STORIES = 20


# --- children ------------------------------------------------------------------------------------------------


async def queue_digest(data_dir: Path, database_url: str) -> dict[str, int]:
    """Last week's stories stored as of last week, then the week's digest queued (`queue_weekly_digests`)."""
    sys.path.insert(0, str(REPO))
    from bot.app.config import Settings
    from bot.app.newsroom import Newsroom
    from bot.outbox.digest_planning import queue_weekly_digests
    from bot.stories.story import Story
    from subscribers import stories

    # Digests go out at the start of the week after the one they cover, so they are due now whatever the day.
    settings = Settings(data_dir=data_dir, database_url=database_url, digest_weekday="monday", digest_time="00:00")
    async with await Newsroom.open(settings) as newsroom:
        today = datetime.now(UTC)
        monday = (today - timedelta(days=today.weekday() + 7)).replace(hour=8, minute=0, second=0, microsecond=0)
        async with newsroom.engine.begin() as conn:
            for n in range(DIGEST_STORIES):
                topics = tuple(dict.fromkeys([NORMAL_TOPICS[n % 9], NORMAL_TOPICS[(n * 4 + 1) % 9]]))
                story = Story(id=f"bench-digest-{n}", title=f"Story {n} of the week", body="Body. " * 80,
                              summary=f"Summary of story {n}.", topics=topics)  # fmt: skip
                await stories.save_story(conn, story, monday + timedelta(hours=5 * n))
        report = await queue_weekly_digests(newsroom)
    return report.queued


class TimingSink:
    """bench/smtp_discard.py's sink, noting when each message was accepted and which ones carried :data:`MARK`."""

    def __init__(self) -> None:
        self.accepted: list[float] = []
        self.marked: list[float] = []

    def session(self) -> asyncio.Protocol:
        from smtp_discard import DiscardSession

        sink, mark = self, MARK.encode()

        class TimingSession(DiscardSession):
            seen = b""  # the message's DATA so far, its tail only (enough to find the mark across reads)
            has_mark = False

            def data_received(self, data: bytes) -> None:
                if self.in_data:
                    self.seen = self.seen[-len(mark) :] + data
                    self.has_mark = self.has_mark or mark in self.seen
                super().data_received(data)

            def accepted(self) -> None:
                now = time.monotonic()
                sink.accepted.append(now)
                if self.has_mark:
                    sink.marked.append(now)
                self.seen, self.has_mark = b"", False

        return TimingSession()


def serve_timing_sink() -> None:
    """Run the sink until SIGTERM; prints its URL first and the accept times (JSON) last."""
    sink = TimingSink()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(sink.session, "127.0.0.1", 0)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        print(f"smtp://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
        await stop.wait()
        server.close()
        print(json.dumps({"accepted": sink.accepted, "marked": sink.marked}), flush=True)

    try:
        import uvloop

        uvloop.run(serve())
    except ImportError:
        asyncio.run(serve())


# --- the parent ----------------------------------------------------------------------------------------------


@contextmanager
def timing_sink() -> Iterator[tuple[str, dict[str, list[float]]]]:
    """The timing sink in its own process; yields (smtp URL, accept times filled in when the block ends)."""
    sink = subprocess.Popen([sys.executable, __file__, "--smtp-sink"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    times: dict[str, list[float]] = {}
    try:
        assert sink.stdout is not None
        url = sink.stdout.readline().strip()
        if not url.startswith("smtp://127.0.0.1:"):
            sys.exit("the SMTP sink did not start")
        yield url, times
    finally:
        sink.terminate()
        out, _ = sink.communicate(timeout=30)
        if out.strip():
            times.update(json.loads(out.strip().splitlines()[-1]))


@contextmanager
def newsbot_processes(roles: list[str], env: dict[str, str], folder: Path) -> Iterator[None]:
    """`newsbot run --role ROLE` per role, stopped with SIGTERM (a graceful stop) when the block ends."""
    children = []
    try:
        for n, role in enumerate(roles):
            log = (folder / f"{role}-{n}.log").open("w")
            children.append((subprocess.Popen([NEWSBOT, "run", "--role", role], env=env, cwd=folder,
                                              stdout=log, stderr=log), log))  # fmt: skip
        yield
    finally:
        for child, _ in children:
            child.send_signal(signal.SIGTERM)
        for child, log in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            log.close()


def call_api(url: str, body: dict[str, object] | None = None) -> dict[str, object]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Authorization": f"Bearer {API_TOKEN}",
                                                              "Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def wait_for(check: object, what: str, timeout: float, pause: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            sys.exit(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(pause)


def p90_after(times: list[float], start: float, readers: int) -> float:
    """Seconds from *start* until 90% of *readers* were reached."""
    return sorted(times)[math.ceil(0.9 * readers) - 1] - start


def rate_of(times: list[float]) -> float:
    """Messages per second from the first to the last accepted one."""
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0


def prepare_store(args: argparse.Namespace, folder: Path, stack: ExitStack) -> tuple[str, dict[str, int]]:
    """The three groups of readers and the queued digest; returns the database URL ('' for SQLite) and digests."""
    groups = [
        dict(count=args.readers, story_topic_share=1.0, topics_per_reader=0, email_share=1.0, email_cadence="instant"),
        dict(count=args.bulk, story_topic_share=0.0, telegram_cadence="weekly", email_share=1.0,
             email_cadence="weekly"),
        dict(count=args.bulk, story_topic_share=0.0, email_share=1.0, email_cadence="instant"),
    ]  # fmt: skip
    database_url = ""
    if args.postgres:
        from scaling_postgres import Server

        server = Server(args.postgres)
        stack.callback(server.drop_all)
        database = server.create(server.name("breaking"))
        database_url = server.sqlalchemy_url(database)
        run_child([NEWSBOT, "db", "upgrade"], newsbot_env(folder / "data", database_url=database_url), folder)
        for group in groups:
            add_bench_readers_postgres(server.dsn(database), group.pop("count"), **group)  # type: ignore[arg-type]
    else:
        database = migrate(folder / "data")
        for group in groups:
            add_bench_readers(database, group.pop("count"), **group)  # type: ignore[arg-type]
    child = run_child([sys.executable, __file__, "--digest-child", folder / "data", database_url],
                      newsbot_env(folder / "data"), folder)  # fmt: skip
    return database_url, child.last_json()  # type: ignore[return-value]


def main() -> None:
    if sys.argv[1:2] == ["--digest-child"]:
        print(json.dumps(asyncio.run(queue_digest(Path(sys.argv[2]), sys.argv[3]))))
        return
    if sys.argv[1:2] == ["--smtp-sink"]:
        serve_timing_sink()
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=10_000, help="the breaking story's chats and addresses")
    parser.add_argument("--bulk", type=int, default=None, help="readers of the digest, and of the normal story "
                                                                "(default 1.5 x readers each)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=1, help="`newsbot run --role worker` processes")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to make a scratch database on")
    parser.add_argument("--head-start", type=float, default=3.0, help="seconds the bulk flows before Send")
    args = parser.parse_args()
    args.bulk = args.bulk if args.bulk is not None else args.readers * 3 // 2
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        folder = Path(tmp)
        database_url, digests = prepare_store(args, folder, stack)
        api_url, _ = stack.enter_context(fake_bot_api())
        smtp_url, sink_times = stack.enter_context(timing_sink())
        web = f"http://127.0.0.1:{free_port()}"
        env = newsbot_env(folder / "data", database_url=database_url, telegram_token="123456:BENCH",
                          telegram_api_url=api_url, telegram_paid_broadcast="1", smtp_url=smtp_url,
                          api_token=API_TOKEN, web_host="127.0.0.1", web_port=web.rsplit(":", 1)[1])  # fmt: skip
        with newsbot_processes(["web", *["worker"] * args.workers], env, folder):
            wait_for(lambda: _answers(f"{web}/healthz"), "the web side", 60)
            normal = call_api(
                f"{web}/api/stories",
                {
                    "title": "Council passes the budget",
                    "topics": NORMAL_TOPICS,
                    "body": "The council approved the budget on Friday. " * 8,
                },
            )
            first_sent = _fake_count(api_url)
            wait_for(lambda: _fake_count(api_url) > first_sent, "the bulk to start", 120)
            time.sleep(args.head_start)
            sent_at = time.monotonic()
            breaking = call_api(
                f"{web}/api/stories",
                {
                    "title": f"{MARK}: dam breaks upstream",
                    "breaking": True,
                    "topics": ["north-korea"],
                    "body": "Residents of the valley are told to leave. " * 6,
                },
            )
            answered = time.monotonic() - sent_at
            recipients = breaking["recipients"]
            wanted = {"telegram": args.readers, "email": args.readers}
            if recipients != wanted:
                sys.exit(f"the breaking story was queued for {recipients}, not {wanted}")
            status_url = f"{web}/api/stories/{breaking['id']}"
            wait_for(lambda: _all_done(call_api(status_url)), "the breaking story to go out", 60 + args.readers / 50)
            telegram_times = _accepted(api_url, MARK)
            telegram_all = _accepted(api_url, "")
        stack.close()  # the sink prints its times when it stops
        queued = {channel: count for channel, count in normal["recipients"].items()}  # type: ignore[union-attr]
    email_times, email_all = sink_times["marked"], sink_times["accepted"]
    rows, ratios = [], []
    for channel, times, everything in (("Telegram", telegram_times, telegram_all), ("email", email_times, email_all)):
        if len(times) != args.readers:
            sys.exit(f"{channel}: {len(times)} of {args.readers} breaking messages arrived")
        p90, rate = p90_after(times, sent_at, args.readers), rate_of(everything)
        ideal = args.readers / rate
        ratios.append(p90 / ideal)
        reached = sent_at + p90
        marked = set(times)
        bulk_before = sum(1 for t in everything if t < sent_at)
        bulk_meanwhile = sum(1 for t in everything if sent_at <= t <= reached and t not in marked)
        rows += [
            (f"{channel}: breaking p90 (from Send)", f"{p90:.2f} s"),
            (f"{channel}: ideal (readers / {rate:,.0f} messages/s)", f"{ideal:.2f} s"),
            (f"{channel}: p90 / ideal", f"{p90 / ideal:.2f}"),
            (f"{channel}: bulk messages in the head start / from Send to p90", f"{bulk_before:,} / {bulk_meanwhile:,}"),
        ]
    backend = "PostgreSQL" if database_url else "SQLite"
    print_table(
        f"Breaking news: {args.readers:,} chats and addresses while a digest ({digests.get('telegram', 0):,} chats, "
        f"{digests.get('email', 0):,} emails) and a normal story ({queued.get('telegram', 0):,} chats, "
        f"{queued.get('email', 0):,} emails) fan out; {backend}, {args.workers} worker(s)",
        [*rows, ("POST /api/stories answered in", f"{answered:.2f} s")],
    )
    print(f"breaking p90 / ideal: {max(ratios):.2f}")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def _fake_count(api_url: str) -> int:
    with urllib.request.urlopen(f"{api_url}/stats", timeout=10) as answer:
        return int(json.loads(answer.read())["sent"])


def _accepted(api_url: str, text: str) -> list[float]:
    query = urllib.parse.urlencode({"text": text})
    with urllib.request.urlopen(f"{api_url}/accepted?{query}", timeout=30) as answer:
        return json.loads(answer.read())


def _all_done(status: dict[str, object]) -> bool:
    """No delivery of the story is still pending or being sent."""
    by_channel = status["deliveries"]
    return all(not counts.get("pending") and not counts.get("sending") for counts in by_channel.values())  # type: ignore[union-attr]


if __name__ == "__main__":
    main()
