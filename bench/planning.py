"""Benchmark 1: planning a story for 1,000,000 subscribers, 30% of whom follow its topic.

Run: .venv/bin/python bench/planning.py [SUBSCRIBERS]
Every subscriber has an instant Telegram chat, half also a weekly email (not planned for a normal story), and three
other topics. Two copies of the same store are planned in two child processes: newsbot's own path (SQLAlchemy,
aiosqlite, `deliveries.plan_story_deliveries` in one transaction) and a bare `sqlite3` `INSERT ... SELECT` joining
follows to addresses, with the same pragmas. Goal: newsbot at least 0.8 of bare speed (ratio = bare s / newsbot s),
and a peak RSS flat in the number of subscribers, under 150 MB at 1,000,000.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from harness import REPO, add_bench_readers, migrate, print_table, run_child

STORY_ID = "bench-planning-story"
BARE_PLAN = """
INSERT OR IGNORE INTO deliveries (item_key, story_id, subscriber_id, channel, priority, status, attempts,
                                  not_before, created_at, updated_at)
SELECT 'story:' || ?1, ?1, a.subscriber_id, a.channel, 10, 'pending', 0, ?2, ?2, ?2
FROM follows f JOIN addresses a ON a.subscriber_id = f.subscriber_id
WHERE f.topic = 'north-korea' AND a.status = 'active' AND a.cadence = 'instant'
"""


async def plan_with_newsbot(data_dir: Path) -> dict[str, float]:
    sys.path.insert(0, str(REPO))
    from bot.app.config import Settings
    from bot.app.newsroom import Newsroom
    from bot.stories.story import Story
    from subscribers import deliveries, stories

    story = Story(id=STORY_ID, title="Bench", body="Bench story.", summary="Bench story.", topics=("north-korea",))
    async with await Newsroom.open(Settings(data_dir=data_dir)) as newsroom:
        started = time.perf_counter()
        async with newsroom.engine.begin() as conn:
            now = datetime.now(UTC)
            await stories.save_story(conn, story, now)
            planned = await deliveries.plan_story_deliveries(conn, story, now)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "planned": planned}


def plan_bare(database: Path) -> dict[str, float]:
    db = sqlite3.connect(database, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000"):
        db.execute(f"PRAGMA {pragma}")
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    started = time.perf_counter()
    db.execute("BEGIN IMMEDIATE")
    db.execute(
        "INSERT INTO stories (id, title, body, summary, breaking, created_at) VALUES (?, 'Bench', 'B', 'B', 0, ?)",
        (STORY_ID, now),
    )
    db.execute("INSERT INTO story_topics (story_id, topic, position) VALUES (?, 'north-korea', 0)", (STORY_ID,))
    planned = db.execute(BARE_PLAN, (STORY_ID, now)).rowcount
    db.execute("COMMIT")
    seconds = time.perf_counter() - started
    db.close()
    return {"seconds": seconds, "planned": planned}


def main() -> None:
    if sys.argv[1:2] == ["--newsbot-child"]:
        print(json.dumps(asyncio.run(plan_with_newsbot(Path(sys.argv[2])))))
        return
    if sys.argv[1:2] == ["--bare-child"]:
        print(json.dumps(plan_bare(Path(sys.argv[2]))))
        return
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        database = migrate(folder / "newsbot")
        started = time.perf_counter()
        followers = add_bench_readers(
            database, count, story_topic_share=0.3, email_share=0.5, email_cadence="weekly"
        )
        filled = time.perf_counter() - started
        (folder / "bare").mkdir()
        shutil.copy(database, folder / "bare" / "newsbot.sqlite3")
        env = {"PATH": "/usr/bin:/bin"}
        ours = run_child([sys.executable, __file__, "--newsbot-child", folder / "newsbot"], env, folder)
        bare = run_child([sys.executable, __file__, "--bare-child", folder / "bare" / "newsbot.sqlite3"], env, folder)
    newsbot_result, bare_result = ours.last_json(), bare.last_json()
    if newsbot_result["planned"] != bare_result["planned"] or newsbot_result["planned"] != followers:
        sys.exit(f"planned {newsbot_result['planned']} vs bare {bare_result['planned']} vs {followers} followers")
    print_table(
        f"Planning one story for {count:,} subscribers ({followers:,} follow its topic; filled in {filled:.0f} s)",
        [
            ("newsbot plan_story_deliveries", f"{newsbot_result['seconds']:.2f} s"),
            ("bare sqlite3 INSERT ... SELECT", f"{bare_result['seconds']:.2f} s"),
            ("ratio (bare / newsbot, goal >= 0.8)", f"{bare_result['seconds'] / newsbot_result['seconds']:.2f}"),
            ("peak RSS, newsbot child", f"{ours.peak_rss_mb:.0f} MB"),
            ("peak RSS, bare child", f"{bare.peak_rss_mb:.0f} MB"),
        ],
    )


if __name__ == "__main__":
    main()
