"""Benchmark 4: Telegram at the paid-broadcast limit, 20,000 chats to a fake Bot API with no limit of its own.

Run: .venv/bin/python bench/telegram_paid.py [CHATS]
Goal: 1,000 messages/s sustained (Telegram's paid-broadcast limit) on a two-core machine; prints the rate,
the ratio to 1,000, client CPU per message and the peak RSS of `newsbot deliver`. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import sys

from harness import print_table
from telegram_fan_out import measure_fan_out

GOAL = 1000.0


def main() -> None:
    chats = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    result = measure_fan_out(chats, paid=True, fake_limit=None)
    print_table(
        f"Telegram, paid broadcast: {result.sent:,} of {chats:,} chats",
        [
            ("send rate (fake's clock)", f"{result.server_rate:,.0f} messages/s"),
            ("ratio to 1,000/s", f"{result.server_rate / GOAL:.2f}"),
            ("429 answers", f"{result.too_many_requests}"),
            ("client CPU per message", f"{result.client_cpu_per_message_ms:.2f} ms (start-up {result.idle_cpu:.1f} s "
                                       "CPU excluded)"),
            ("fake Bot API CPU", f"{result.fake_cpu:.1f} s"),
            ("newsbot deliver wall time", f"{result.wall:.1f} s"),
            ("peak RSS of newsbot deliver", f"{result.peak_rss_mb:.0f} MB"),
        ],
    )


if __name__ == "__main__":
    main()
