"""SpamAssassin's local rules score the story, digest and confirmation emails at most 0 with no positive rule.

Runs `bench/spam_scores.py`, which renders each email through the real compile and MIME path into the file
outbox and runs ``spamassassin -L -t`` on it (local rules only: no DNS, nothing leaves the machine).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    shutil.which("spamassassin") is None, reason="spamassassin is not installed (Debian package spamassassin)"
)


def test_story_digest_and_confirmation_emails_fire_no_rule_of_positive_score() -> None:
    run = subprocess.run(
        [sys.executable, str(REPO / "bench" / "spam_scores.py")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
        check=False,
    )
    lines = run.stdout.strip().splitlines()
    assert run.returncode == 0, run.stdout + run.stderr
    scored = {
        match.group(1): float(match.group(2)) for line in lines if (match := re.match(r"(\w+): score (-?\S+)", line))
    }
    assert set(scored) == {"story", "digest", "confirmation"}
    assert all(score <= 0 for score in scored.values()), scored
    fired = [line.split() for line in lines if line.startswith("  ")]
    assert fired and not [rule for rule in fired if float(rule[0]) > 0], fired
    assert lines[-1] == f"max score: {max(scored.values()):.1f}"
