"""Take the README's screenshots from a real run: the demo, a few more stories, delivery and a digest preview.

Everything runs on file outboxes in a scratch data directory (nothing is sent anywhere), through the ``newsbot``
command line as an operator would use it; the pages are then rendered at phone width (375 px) by Debian's
Chromium through Playwright, and written to ``docs/``:

- ``docs/telegram-story.png``: the story message as the outbox preview shows it, a chat bubble;
- ``docs/email-digest.png``: this week's email digest for North Korea and World, as ``newsbot digest --preview``
  renders it;
- ``docs/email-story.png``: the story email, as the outbox holds it.

Run: ``.venv/bin/python bench/readme_screenshots.py [--chromium /usr/bin/chromium]``.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import os
import subprocess
import sys
import tempfile
from email.message import EmailMessage
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
NEWSBOT = Path(sys.executable).with_name("newsbot")
PHONE = {"width": 375, "height": 480}  # full-page shots grow to the content

#: More of the week's news, so the digest has several topics and a breaking story.
STORIES = {
    "talks.md": """---
title: Seoul and Pyongyang agree to reopen the border hotline
topics: [north-korea, world]
breaking: true
---
South and North Korea agreed on Tuesday to reopen the military hotline along their border, officials in Seoul said.

The line was cut last year after a series of missile tests. Both sides will test it daily at 9 a.m.
""",
    "sanctions.md": """---
title: UN panel reports new sanctions evasion at sea
topics: [north-korea]
---
A United Nations panel found that ships had moved coal out of North Korean ports in defiance of sanctions.

The report names eleven vessels and asks member states to inspect them when they call at their ports.
""",
    "summit.md": """---
title: Leaders meet in Geneva for climate finance talks
url: https://fairview-gazette.example/world/geneva-climate-finance
topics: [world]
---
Finance ministers from forty countries met in Geneva to agree how a new climate fund will be paid for.

Negotiators said a deal was likely by Friday, though the size of the fund is still disputed.
""",
}


def newsbot(env: dict[str, str], *args: str) -> str:
    """Run one ``newsbot`` command in the scratch directory; its output, or exit with its error."""
    done = subprocess.run([str(NEWSBOT), *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"newsbot {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def html_of(path: Path) -> str:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=("html",))
    assert part is not None, f"{path} has no HTML part"
    return str(part.get_content())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the Chromium executable to render with")
    chromium = parser.parse_args().chromium
    if not Path(chromium).exists():
        sys.exit(f"no Chromium at {chromium} (install Debian's chromium package, or pass --chromium)")
    with tempfile.TemporaryDirectory(prefix="newsbot-screenshots-") as scratch:
        work = Path(scratch)
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
        env |= {"NEWSBOT_DATA_DIR": str(work / "data"), "NEWSBOT_SECRET_KEY": "screenshots-" + "x" * 32}
        env |= {"NEWSBOT_POSTAL_ADDRESS": "12 Main Street, Fairview, OR 97000"}
        env |= {"NEWSBOT_PUBLIC_URL": "https://news.fairview-gazette.example"}
        os.chdir(work)
        print(newsbot(env, "demo").strip().splitlines()[-1])
        for name, text in STORIES.items():
            (work / name).write_text(text, encoding="utf-8")
            newsbot(env, "ingest", name)
        print(newsbot(env, "deliver").strip())
        digest = work / "digest.html"
        print(
            newsbot(
                env, "digest", "--preview", "--topics", "north-korea,world", "--channel", "email",
                "--output", str(digest),
            ).strip()
        )  # fmt: skip
        outbox = work / "data" / "outbox"
        story_email = next(p for p in sorted((outbox / "email").glob("story_*.eml")) if "geneva" not in p.read_text())
        (work / "story-email.html").write_text(html_of(story_email), encoding="utf-8")

        DOCS.mkdir(exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport=PHONE, device_scale_factor=2)
            page.goto((outbox / "index.html").as_uri())
            card = page.locator('section[data-channel="telegram"][data-kind="story"] .phone').first
            card.screenshot(path=str(DOCS / "telegram-story.png"))
            for source, target in ((digest, "email-digest.png"), (work / "story-email.html", "email-story.png")):
                page.goto(source.as_uri())
                page.screenshot(path=str(DOCS / target), full_page=True)
            browser.close()
    for name in ("telegram-story.png", "email-digest.png", "email-story.png"):
        print(f"wrote docs/{name}")


if __name__ == "__main__":
    main()
