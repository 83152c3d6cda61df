"""Benchmark 3: Telegram at the free limit, 3,000 chats to a fake Bot API that answers 429 above 30 messages/s.

Run: .venv/bin/python bench/telegram_free.py [CHATS]
Goals: achieved rate / 30 of at least 0.95, and no 429 at all. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import sys

from harness import print_table
from telegram_fan_out import measure_fan_out

LIMIT = 30


def main() -> None:
    chats = int(sys.argv[1]) if len(sys.argv) > 1 else 3_000
    result = measure_fan_out(chats, paid=False, fake_limit=LIMIT)
    print_table(
        f"Telegram, free limit: {result.sent:,} of {chats:,} chats, fake answers 429 above {LIMIT}/s",
        [
            ("send rate (fake's clock)", f"{result.server_rate:.2f} messages/s"),
            ("ratio to 30/s", f"{result.server_rate / LIMIT:.3f}"),
            ("429 answers", f"{result.too_many_requests}"),
            ("client CPU per message", f"{result.client_cpu_per_message_ms:.2f} ms"),
            ("newsbot deliver wall time", f"{result.wall:.1f} s"),
            ("peak RSS of newsbot deliver", f"{result.peak_rss_mb:.0f} MB"),
        ],
    )


if __name__ == "__main__":
    main()
