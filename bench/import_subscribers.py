"""Benchmark: `newsbot subscribers import` of a 100,000-row CSV into a fresh SQLite store.

Run: .venv/bin/python bench/import_subscribers.py [ROWS]
Prints the wall time of the whole command (validation of every row, then the bulk insert) and rows per second.
Everything happens in a temporary directory; nothing is sent anywhere.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOPICS = ["north-korea", "us-politics", "world", "local", "sports", "business", "weather", "tech"]


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["telegram_chat", "email", "topics", "confirmed", "email_cadence"])
        for i in range(rows):
            topics = ";".join(TOPICS[j] for j in range(len(TOPICS)) if (i >> j) & 1) or "world"
            writer.writerow([str(1_000_000 + i), f"reader{i}@example.org", topics, "yes", "weekly"])


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    newsbot = Path(sys.executable).with_name("newsbot")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "readers.csv"
        write_csv(source, rows)
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
        env["NEWSBOT_DATA_DIR"] = str(folder / "data")
        subprocess.run([newsbot, "db", "upgrade"], check=True, env=env, cwd=folder, capture_output=True)
        started = time.perf_counter()
        done = subprocess.run([newsbot, "subscribers", "import", str(source)], env=env, cwd=folder,
                              capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(done.stderr)
    print(f"subscribers import: {rows:,} rows (2 addresses each) in {elapsed:.1f} s "
          f"= {rows / elapsed:,.0f} rows/s (whole command, including start-up)")


if __name__ == "__main__":
    main()
