"""A large RSS feed, as an outlet's full-text archive feed is: a few new entries on top of many old ones.

The loop-stall test parses one; ``bench/loop_stall.py`` serves one in its own process
(``python -m tests.fakes.big_feed --port 0``) that gains a new entry at every request, so every poll parses it
(``GET /polls`` says how many were served).
"""

from __future__ import annotations

import argparse
import itertools
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PARAGRAPH = (
    "<p>The city council met on Tuesday evening to debate the harbour plan, and the mayor said the vote would come "
    "before the end of the month. Residents of the east side asked for more time to study the proposal.</p>"
)


def feed_item(guid: str, title: str, published: datetime, paragraphs: int) -> str:
    body = escape(PARAGRAPH * paragraphs)
    return (
        f"<item><guid>{guid}</guid><title>{escape(title)}</title><link>https://fairview-gazette.example/{guid}</link>"
        f"<description>{body}</description><category>Local</category>"
        f"<pubDate>{format_datetime(published, usegmt=True)}</pubDate></item>"
    )


def big_feed(size: int = 5_000_000, *, now: datetime, fresh: int = 2, prefix: str = "story") -> bytes:
    """An RSS feed of about *size* bytes: *fresh* entries of the last hour, the rest weeks old (never sent)."""
    items = [feed_item(f"{prefix}-{n}", f"Harbour plan, part {n}", now - timedelta(minutes=10 + n), 60)
             for n in range(fresh)]  # fmt: skip
    old = itertools.count()
    while sum(map(len, items)) < size:
        n = next(old)
        items.append(feed_item(f"archive-{n}", f"Council archive {n}", now - timedelta(days=30 + n), 60))
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Fairview Gazette: Archive</title>'
        f"<link>https://fairview-gazette.example/</link>{''.join(items)}</channel></rss>"
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a large feed that gains an entry at every request.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--size", type=int, default=5_000_000)
    args = parser.parse_args()
    served = 0

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            nonlocal served
            if self.path == "/polls":  # how many times the feed was served, for the benchmark's report
                body, kind = str(served).encode(), "text/plain"
            else:
                # One new entry per poll (a new prefix), so nothing is a 304 and every poll parses the whole feed.
                served += 1
                body = big_feed(args.size, now=datetime.now(UTC), fresh=1, prefix=f"poll{served}")
                kind = "application/rss+xml"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"big feed on http://127.0.0.1:{server.server_address[1]}/feed.xml", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
