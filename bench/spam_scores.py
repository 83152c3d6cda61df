"""SpamAssassin's local rules on the story, digest and confirmation emails, as readers' mail servers would see them.

Run: .venv/bin/python bench/spam_scores.py [--keep DIR] A newsroom in a scratch data dir (file outbox, no network)
ingests the sample story and a few more, delivers the story email to an instant reader, queues and delivers the
weekly digest a week later (the newsroom's clock is moved, nothing waits) and sends one double opt-in email, all
through the real render, MJML compile and MIME path. The written ``.eml`` files go through one run of
``spamassassin -L -t``, as one mbox (local rules only: no DNS, no network tests). Prints per email its score and
every rule that fired with its points, then ``max score: N.N``. Exits 1 when a rule of positive score fired, 2
when spamassassin is missing.

The goal is a score of at most 0 with no positive rule: what a reader's filter adds for the content itself,
before sender reputation (SPF, DKIM, DNS lists) that only a real domain can earn.
"""

from __future__ import annotations

import argparse
import asyncio
import mailbox
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SAMPLE_STORY = REPO / "examples" / "stories" / "north-korea.txt"
SPAMASSASSIN = "spamassassin"
#: A Monday morning: the week before is complete by next Monday, when the digest of this week is queued.
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MORE_STORIES = (
    (
        "council-budget",
        "Council passes the 2027 budget",
        "local",
        "The city council on Friday approved a budget that adds two bus lines and repairs the library roof. "
        "The vote was seven to two after a debate of three hours.",
    ),
    (
        "falcons-cup",
        "Fairview Falcons win the county cup",
        "sports",
        "The Falcons beat Riverside three to one in front of a home crowd on Saturday. "
        "Coach Dana Ortiz praised the defence and thanked the supporters who travelled.",
    ),
)
_RULE_LINE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\b\s*(.*)$")


@dataclass(frozen=True)
class Score:
    """One email's verdict: its total and the rules that fired, with their points."""

    name: str
    path: Path
    total: float
    rules: tuple[tuple[float, str, str], ...]

    @property
    def positive(self) -> list[tuple[float, str, str]]:
        return [rule for rule in self.rules if rule[0] > 0]


class MovableClock:
    """The newsroom's clock, moved by hand so the digest week is over without waiting for it."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment

    async def sleep(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)
        await asyncio.sleep(0)


async def write_emails(data_dir: Path) -> dict[str, Path]:
    """Render and "send" one email of each kind into the file outbox; returns the file of each kind."""
    from bot.app.config import Settings
    from bot.app.newsroom import Newsroom
    from bot.channels import build_channels
    from bot.outbox.digest_planning import queue_weekly_digests
    from bot.outbox.worker import DeliveryWorker
    from bot.readers.email_signup import request_email_confirmation
    from bot.stories.intake import prepare_for, publish_story
    from bot.stories.parsing import parse_story, read_story_file
    from subscribers import readers
    from subscribers.preferences import build_subscriber
    from subscribers.schema import Cadence, ChannelName

    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite+aiosqlite:///{data_dir / 'newsbot.sqlite3'}",
        secret_key="spam-score-bench-secret-of-32-characters",
        public_url="https://news.fairview-gazette.example",
        mail_from="Fairview Gazette <newsletter@fairview-gazette.example>",
        postal_address="Fairview Gazette, 100 Main Street, Fairview, OR 97000, USA",
    )
    outbox = settings.outbox_dir / "email"
    clock = MovableClock(START)
    newsroom = await Newsroom.open(settings)
    newsroom.clock = clock
    channels = build_channels(settings, live=False)
    try:
        topics = ("north-korea", "world", "us-politics", "local", "sports")
        async with newsroom.engine.begin() as conn:
            for address, cadence in (("instant.reader@example.org", Cadence.INSTANT), ("weekly@example.org", None)):
                subscriber = build_subscriber(
                    newsroom.taxonomy,
                    telegram_chat=None,
                    email=address,
                    topics=topics,
                    confirmed=True,
                    cadences={ChannelName.EMAIL: cadence or Cadence.WEEKLY},
                )
                await readers.add_subscribers(conn, [subscriber], clock.now())
        worker = DeliveryWorker(newsroom, channels, clock=clock)

        story = prepare_for(newsroom, read_story_file(SAMPLE_STORY, settings.max_story_bytes), source="bench")
        await publish_story(newsroom, story, actor="bench")
        await worker.drain(wait_for_retries=0)
        written = {"story": _newest(outbox)}

        for story_id, title, topic, body in MORE_STORIES:
            clock.moment += timedelta(hours=5)
            text = f"---\ntitle: {title}\nid: {story_id}\ntopics: [{topic}]\n---\n{body}\n"
            draft = parse_story(text, max_bytes=settings.max_story_bytes)
            await publish_story(newsroom, prepare_for(newsroom, draft, source="bench"), actor="bench")
        await worker.drain(wait_for_retries=0)

        clock.moment = START + timedelta(days=7)
        await queue_weekly_digests(newsroom)
        before = set(outbox.iterdir())
        await worker.drain(wait_for_retries=0)
        written["digest"] = _newest(outbox, exclude=before)

        before = set(outbox.iterdir())
        await request_email_confirmation(
            newsroom, channels["email"], address="new.reader@example.org", topics=["local"]
        )
        written["confirmation"] = _newest(outbox, exclude=before)
        return written
    finally:
        for channel in channels.values():
            await channel.aclose()
        await newsroom.close()


def _newest(directory: Path, exclude: set[Path] = frozenset()) -> Path:  # type: ignore[assignment]
    files = [path for path in directory.glob("*.eml") if path not in exclude]
    if not files:
        sys.exit(f"no email was written to {directory}")
    return max(files, key=lambda path: path.stat().st_mtime_ns)


def score_all(emails: dict[str, Path]) -> list[Score]:
    """Run SpamAssassin's local tests once on every message (as one mbox: its rules load once, not per message)
    and read each report's table of rules, matching reports to messages by Message-ID."""
    with tempfile.TemporaryDirectory(prefix="newsbot-spam-mbox-") as scratch:
        box = mailbox.mbox(Path(scratch) / "emails.mbox")
        ids = {}
        for name, path in emails.items():
            message = mailbox.mboxMessage(path.read_bytes())
            ids[message["Message-ID"]] = name
            box.add(message)
        box.close()
        mbox_bytes = (Path(scratch) / "emails.mbox").read_bytes()
    run = subprocess.run(
        [SPAMASSASSIN, "-L", "-t", "--mbox"], input=mbox_bytes, capture_output=True, check=False, timeout=300
    )
    output = run.stdout.decode("utf-8", errors="replace")
    reports = {}
    for report in re.split(r"^From .*\n", output, flags=re.MULTILINE):
        message_id = re.search(r"^Message-ID: (\S+)", report, re.MULTILINE | re.IGNORECASE)
        if message_id and message_id.group(1) in ids:
            reports[ids[message_id.group(1)]] = report
    missing = [name for name in emails if name not in reports]
    if missing:
        sys.exit(f"spamassassin gave no verdict on {missing}: {run.stderr.decode(errors='replace').strip()[:300]}")
    return [_read_report(name, emails[name], reports[name]) for name in emails]


def _read_report(name: str, path: Path, output: str) -> Score:
    status = re.search(r"^X-Spam-Status: \w+, score=(-?\d+(?:\.\d+)?)", output, re.MULTILINE)
    if status is None:
        sys.exit(f"spamassassin gave no verdict on {path}")
    report = output.split("Content analysis details:", 1)[-1]
    table = report.split("---- ----------------------", 1)[-1]
    rules = []
    for line in table.splitlines()[1:]:
        match = _RULE_LINE.match(line)
        if match:
            rules.append((float(match.group(1)), match.group(2), match.group(3).strip()))
        elif not line.strip():
            break
        elif rules:  # a description continued on the next line
            points, rule, description = rules[-1]
            rules[-1] = (points, rule, f"{description} {line.strip()}")
    return Score(name, path, float(status.group(1)) + 0.0, tuple(rules))  # + 0.0: -0.0 prints as 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--keep", type=Path, help="write the emails under this directory and keep them")
    args = parser.parse_args()
    if shutil.which(SPAMASSASSIN) is None:
        print("spamassassin is not installed (Debian package spamassassin)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="newsbot-spam-") as scratch:
        data_dir = args.keep or Path(scratch) / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        emails = asyncio.run(write_emails(data_dir))
        scores = score_all(emails)
    for result in scores:
        print(f"{result.name}: score {result.total:.1f}" + (f" ({result.path})" if args.keep else ""))
        for points, rule, description in result.rules:
            print(f"  {points + 0.0:5.1f} {rule:<28} {description}")
    print(f"max score: {max(result.total for result in scores):.1f}")
    return 1 if any(result.positive for result in scores) else 0


if __name__ == "__main__":
    sys.exit(main())
