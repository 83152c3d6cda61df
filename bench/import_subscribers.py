"""Benchmark: `newsbot subscribers import` of a 100,000-row CSV into a fresh SQLite store, against the bare cost.

Run: .venv/bin/python bench/import_subscribers.py [ROWS]
Measures, each in its own process on its own copy of a freshly migrated store: the whole command (start-up,
validation of every row, then the bulk insert); the same command on a CSV with only its header (start-up alone);
and the bare work: Python's csv module and sqlite3 writing the same rows (addresses lower-cased for their key, no
validation) in one transaction. Prints a table, then, as its last line, the command's rows per second.
Everything happens in a temporary directory; nothing is sent anywhere.
"""

from __future__ import annotations

import csv
import shutil
import sqlite3
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from harness import NEWSBOT, ChildRun, migrate, newsbot_env, print_table, run_child

TOPICS = ["north-korea", "us-politics", "world", "local", "sports", "business", "weather", "tech"]


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["telegram_chat", "email", "topics", "confirmed", "email_cadence"])
        for i in range(rows):
            topics = ";".join(TOPICS[j] for j in range(len(TOPICS)) if (i >> j) & 1) or "world"
            writer.writerow([str(1_000_000 + i), f"reader{i}@example.org", topics, "yes", "weekly"])


def bare_import(source: Path, database: Path) -> None:
    """The floor: read the CSV and write the same rows with sqlite3, as the store's own settings have it."""
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    db = sqlite3.connect(database, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    with source.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    db.execute("BEGIN IMMEDIATE")
    db.executemany(
        "INSERT INTO subscribers (id, created_at) VALUES (?, ?)", ((i, now) for i in range(1, len(rows) + 1))
    )
    columns = "subscriber_id, channel, address, email_key, cadence, status, breaking_email, bounce_count, confirmed_at"
    db.executemany(
        f"INSERT INTO addresses ({columns}, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'active', 0, 0, ?, ?, ?)",
        (
            address
            for i, (chat, email, _, _, cadence) in enumerate(rows, 1)
            for address in ((i, "telegram", chat, None, "instant", None, now, now),
                            (i, "email", email, email.lower(), cadence, now, now, now))
        ),
    )  # fmt: skip
    db.executemany(
        "INSERT INTO follows (subscriber_id, topic, created_at) VALUES (?, ?, ?)",
        ((i, topic, now) for i, row in enumerate(rows, 1) for topic in row[2].split(";")),
    )
    db.execute("COMMIT")
    db.close()


def main() -> None:
    if sys.argv[1:2] == ["--bare"]:
        bare_import(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source, empty = folder / "readers.csv", folder / "empty.csv"
        write_csv(source, rows)
        write_csv(empty, 0)
        template = migrate(folder / "template")
        runs: dict[str, ChildRun] = {}
        for name, argv in [
            ("start-up", [NEWSBOT, "subscribers", "import", empty]),
            ("bare", [sys.executable, __file__, "--bare", source, folder / "bare" / template.name]),
            ("newsbot", [NEWSBOT, "subscribers", "import", source]),
        ]:
            (folder / name).mkdir()
            shutil.copy(template, folder / name / template.name)
            runs[name] = run_child(argv, newsbot_env(folder / name), folder)
        imported = sqlite3.connect(folder / "newsbot" / template.name).execute("SELECT count(*) FROM addresses")
        if imported.fetchone()[0] != 2 * rows:
            sys.exit("the import did not write every address")

    def figures(run: ChildRun) -> str:
        return f"{run.wall:.2f} s wall, {run.cpu:.2f} s CPU, peak RSS {run.peak_rss_mb:.0f} MB"

    newsbot, bare, start_up = runs["newsbot"], runs["bare"], runs["start-up"]
    print_table(
        f"subscribers import, {rows:,} rows (2 addresses each), SQLite",
        [
            ("newsbot subscribers import", figures(newsbot)),
            ("  of which start-up (a CSV with only its header)", figures(start_up)),
            ("bare: csv module + sqlite3 executemany, same rows", figures(bare)),
            ("newsbot / bare (wall)", f"{newsbot.wall / bare.wall:.2f}"),
        ],
    )
    print(
        f"subscribers import: {rows:,} rows (2 addresses each) in {newsbot.wall:.1f} s "
        f"= {rows / newsbot.wall:,.0f} rows/s (whole command, including start-up)"
    )


if __name__ == "__main__":
    main()
