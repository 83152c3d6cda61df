"""Shared fixtures."""

from __future__ import annotations

import functools
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import typer.main
import typer.testing

from tests.editor_fixtures import desk, desk_settings, feed_host, webhook  # noqa: F401  (editor-side fixtures)
from tests.fakes import FakeBotAPI, SmtpSink
from tests.newsroom_fixtures import (  # noqa: F401  (fixtures shared by every test module)
    database_url,
    empty_store_url,
    live,
    migrated_sqlite,
    newsroom,
    settings,
)

# --- delivery channel fakes: a Telegram Bot API server and an SMTP sink, both on 127.0.0.1 -------------


def pytest_configure(config: pytest.Config) -> None:
    # schemathesis runs on Hypothesis, which caches what it learns of the source in a folder; keep that out of the
    # checkout (its files name the machine's paths).
    os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "newsbot-hypothesis"))
    # PTB 22 itself reads RetryAfter.retry_after while building the exception and warns that it will
    # become a timedelta; the channel already accepts both forms, so this one warning is noise.
    config.addinivalue_line(
        "filterwarnings", "ignore:.*attribute `retry_after` will be of type:telegram.warnings.PTBDeprecationWarning"
    )
    # Apprise imports the stdlib's imghdr for PGP mail, which we never use; Python 3.11 warns on that import.
    config.addinivalue_line("filterwarnings", "ignore:'imghdr' is deprecated:DeprecationWarning")
    # pytest resets warning filters around each test, undoing the one bot/channels/telegram.py installs on import.
    config.addinivalue_line(
        "filterwarnings", "ignore:Please use 'Bot.sendMessage' instead of:telegram.warnings.PTBUserWarning"
    )
    # typer's CliRunner rebuilds the click command from every command's signature at each invoke (about 30 ms of
    # CPU, paid hundreds of times a run); the app never changes during a run, so each app is built once.
    typer.testing._get_command = functools.cache(typer.main.get_command)  # type: ignore[attr-defined]


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Two test processes per core for ``-n auto``: a test spends about half its time waiting (on Chromium, child
    processes and loopback sockets), so with one per core the cores sat half idle (106 s against 74 s here)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return 2 * cores


def pytest_collection_finish(session: pytest.Session) -> None:
    """Hide what stays for the whole run (every module, fixture definition and collected test) from the garbage
    collector: each full collection walked all of it again, about 170 ms of CPU a time, a tenth of a run's CPU; from
    here on a collection looks only at what the tests themselves made, which it still frees as before."""
    gc.collect()
    gc.freeze()


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotAPI]:
    """A started fake Bot API; point settings at it with `telegram_api_url=bot_api.base_url`."""
    async with FakeBotAPI() as api:
        yield api


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A started aiosmtpd sink; `smtp_sink.url` is an `smtp://127.0.0.1:PORT` URL."""
    with SmtpSink() as sink:
        yield sink


#: The browser server's process, in place of ``playwright launch-server``: Linux ends it (SIGTERM: it closes its
#: browser) when the test process that started it ends, however that ends, so a killed test process leaves no
#: Chromium running; then it becomes Playwright's own server.
_BROWSER_SERVER = """
import ctypes, os, signal, sys
if sys.platform == "linux":
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != int(sys.argv[1]):  # the test process is gone already
        sys.exit(1)
from playwright._impl._driver import compute_driver_executable, get_driver_env
node, cli = compute_driver_executable()
os.execve(node, [node, cli, "launch-server", "--browser", "chromium", "--config", sys.argv[2]], get_driver_env())
"""


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The system's Chromium (Playwright's own browser download is not reachable), started once per test process:
    the endpoint a test connects to with ``playwright.chromium.connect``, each test in contexts of its own.

    Starting a browser costs about a second; one per test process instead of one per test. Playwright's own
    server launches it (``launch-server``), with the flags and headless mode its `launch` uses, and listens on
    loopback only. Skips without Chromium or Playwright.
    """
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not shutil.which(path):
        pytest.skip("Chromium is not installed (/usr/bin/chromium)")
    pytest.importorskip("playwright", reason="Playwright for Python is not installed")
    config = tmp_path_factory.mktemp("chromium") / "launch-server.json"
    options = {"executablePath": path, "args": ["--no-sandbox"], "headless": True, "host": "127.0.0.1"}
    config.write_text(json.dumps(options), encoding="utf-8")
    command = [sys.executable, "-c", _BROWSER_SERVER, str(os.getpid()), str(config)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        endpoint = server.stdout.readline().strip()
        assert endpoint.startswith("ws://127.0.0.1:"), f"playwright launch-server did not start: {endpoint!r}"
        yield endpoint
    finally:
        server.terminate()  # the server closes its browser on SIGTERM
        server.wait(timeout=30)


# --- end of delivery channel fakes ----------------------------------------------------------------------


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Drop the migrated PostgreSQL template the scratch databases were cloned from (if one was made)."""
    from tests.postgres_databases import drop_template_database

    drop_template_database()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say once why tests were skipped, instead of one line per PostgreSQL variant."""
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    for reason, count in sorted(reasons.items()):
        terminalreporter.write_line(f"skipped {count}: {reason}")
