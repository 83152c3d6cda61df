"""Take the README's desk screenshots from a real run: the desk served by ``newsbot run --role web``, signed into
with the link ``newsbot editors login-link`` prints (opened, then its Sign in button), driven by Debian's Chromium
through Playwright.

Everything runs on file outboxes in a scratch data directory (nothing is sent anywhere). The demo's readers get
the sample story (delivered), a second story is delivered, a third is scheduled for later; then, at the desk, an
editor composes a story, previews it and sends it, so the stories list shows one going out beside the
others. Written to ``docs/``:

- ``docs/desk-preview.png``: the compose preview (Telegram bubble, the email at phone and desktop width, its plain
  text, readers per channel);
- ``docs/desk-stories.png``: the stories list with its progress bars;
- ``docs/desk-readers.png``: the Readers page (counts by channel and topic, the weekly chart).

Run: ``.venv/bin/python bench/desk_screenshots.py [--chromium /usr/bin/chromium]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from harness import free_port
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
NEWSBOT = Path(sys.executable).with_name("newsbot")
LAPTOP = {"width": 1100, "height": 800}
EDITOR = "desk@fairview-gazette.example"

SENT = """---
title: UN panel reports new sanctions evasion at sea
topics: [north-korea]
---
A United Nations panel found that ships had moved coal out of North Korean ports in defiance of sanctions.

The report names eleven vessels and asks member states to inspect them when they call at their ports.
"""
LATER = """---
title: Council to vote on the 2027 budget next week
topics: [local]
publish_at: {when}
---
The city council will vote on the 2027 budget on Tuesday, after three weeks of hearings.
"""
COMPOSED = """Seoul and Pyongyang agreed on Tuesday to reopen the military hotline along their border, officials in \
Seoul said.

The line was cut last year after a series of missile tests. Both sides will test it daily at 9 a.m.
"""


def newsbot(env: dict[str, str], *args: str) -> str:
    """Run one ``newsbot`` command in the scratch directory; its output, or exit with its error."""
    done = subprocess.run([str(NEWSBOT), *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"newsbot {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def wait_until_serving(base: str, server: subprocess.Popen[str]) -> None:
    """Poll /healthz until the web side answers (it migrates and starts in a second or two)."""
    for _ in range(100):
        if server.poll() is not None:
            sys.exit(f"newsbot run stopped: {server.stderr.read() if server.stderr else ''}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit("newsbot run did not answer on /healthz within 10 s")


def whole_page(page: Page, path: Path) -> None:
    """A screenshot of the whole page in a window as tall as it, so the preview's sticky buttons sit at its end."""
    height = page.evaluate("() => document.documentElement.scrollHeight")
    page.set_viewport_size({"width": LAPTOP["width"], "height": height})
    page.screenshot(path=str(path))
    page.set_viewport_size(LAPTOP)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the Chromium executable to render with")
    chromium = parser.parse_args().chromium
    if not Path(chromium).exists():
        sys.exit(f"no Chromium at {chromium} (install Debian's chromium package, or pass --chromium)")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="newsbot-desk-screenshots-") as scratch:
        work = Path(scratch)
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
        env |= {"NEWSBOT_DATA_DIR": str(work / "data"), "NEWSBOT_SECRET_KEY": "screenshots-" + "x" * 32}
        env |= {"NEWSBOT_POSTAL_ADDRESS": "12 Main Street, Fairview, OR 97000"}
        env |= {"NEWSBOT_PUBLIC_URL": base, "NEWSBOT_WEB_PORT": str(port)}
        os.chdir(work)
        print(newsbot(env, "demo").strip().splitlines()[-1])
        (work / "sent.md").write_text(SENT, encoding="utf-8")
        newsbot(env, "ingest", "sent.md")
        print(newsbot(env, "deliver").strip())
        when = (datetime.now(UTC) + timedelta(days=5)).replace(hour=6, minute=0, second=0, microsecond=0)
        (work / "later.md").write_text(LATER.format(when=when.isoformat(timespec="minutes")), encoding="utf-8")
        newsbot(env, "ingest", "later.md")
        newsbot(env, "editors", "add", EDITOR, "--name", "City desk", "--role", "admin")
        link = newsbot(env, "editors", "login-link", EDITOR).strip()

        server = subprocess.Popen(
            [str(NEWSBOT), "run", "--role", "web"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_until_serving(base, server)
            DOCS.mkdir(exist_ok=True)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                page = browser.new_page(viewport=LAPTOP)
                page.goto(base + urlsplit(link).path)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(f"{base}/desk")
                page.get_by_label("Story text").fill(COMPOSED)
                page.get_by_role("button", name="Preview").click()
                page.get_by_role("heading", name="Telegram").wait_for()
                page.wait_for_load_state("load")  # the email previews' frames too
                whole_page(page, DOCS / "desk-preview.png")
                page.get_by_role("button", name="Send", exact=True).click()
                page.wait_for_url(f"{base}/desk/stories/**")
                page.goto(f"{base}/desk/stories")
                whole_page(page, DOCS / "desk-stories.png")
                page.goto(f"{base}/desk/readers")
                whole_page(page, DOCS / "desk-readers.png")
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    for name in ("desk-preview.png", "desk-stories.png", "desk-readers.png"):
        print(f"wrote docs/{name}")


if __name__ == "__main__":
    main()
