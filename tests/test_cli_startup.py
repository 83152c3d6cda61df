"""What `newsbot` loads to start: a command pays for the libraries it uses, not for every other command's.

Each command runs in its own process (a fresh interpreter, as from the shell) through the console script's entry,
and the process reports which of the heavy libraries ended up imported: a check of what is loaded, not of seconds.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.newsroom_fixtures import seed_migrated_store

#: Libraries only the bot, the web side, the channels, rendering or story intake need.
HEAVY = ("telegram", "fastapi", "starlette", "uvicorn", "apprise", "aiohttp", "httpx", "aiosmtplib", "dkim",
         "mjml", "jinja2", "feedparser", "pysbd", "frontmatter", "markdown_it", "bs4", "apscheduler")  # fmt: skip

#: Runs the command as the `newsbot` script does, then prints which of the listed modules were imported.
_CHILD = """
import json, sys
from bot.cli import app
watched = sys.argv[1].split(",")
try:
    app(sys.argv[2:], prog_name="newsbot")
except SystemExit as exit:
    code = exit.code or 0
print(json.dumps({"code": code, "loaded": [name for name in watched if name in sys.modules]}), file=sys.stderr)
"""


#: What `newsbot run` needs only where it serves the web side or runs the Telegram bot.
WEB_SIDE = ("fastapi", "starlette", "uvicorn", "bot.web")
BOT_SIDE = ("bot.app.telegram_bot", "bot.readers.chat_commands", "bot.editors.chat_commands", "feedparser")


def child_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment of a command run from *tmp_path*: its own data directory, none of the caller's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    env |= {"NEWSBOT_DATA_DIR": str(tmp_path / "data"), "NEWSBOT_SECRET_KEY": "startup-test-secret-of-32-characters"}
    return env | settings


def loaded_by(
    tmp_path: Path, *args: str, watched: tuple[str, ...] = HEAVY, **settings: str
) -> tuple[int, list[str], str]:
    """Run `newsbot ARGS` in a fresh interpreter; its exit code, the *watched* modules it imported, and its stdout."""
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, ",".join(watched), *args],
        cwd=tmp_path,
        env=child_env(tmp_path, **settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(child.stderr.strip().splitlines()[-1])
    return report["code"], report["loaded"], child.stdout


def loaded_while_running(tmp_path: Path, *args: str, watched: tuple[str, ...]) -> tuple[int, list[str], str]:
    """Start `newsbot run ARGS` in a fresh interpreter and stop it with SIGTERM once it runs; its exit code, the
    *watched* modules it imported by then, and its log."""
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, ",".join(watched), "run", *args],
        cwd=tmp_path,
        env=child_env(tmp_path, NEWSBOT_WEB_PORT="0"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = threading.Timer(120, child.kill)  # a child that never gets to run fails the test, it does not hang
    deadline.start()
    log: list[str] = []
    try:
        assert child.stderr is not None
        for line in child.stderr:  # until the child exits and its stderr closes
            log.append(line)
            if "running: " in line:
                child.send_signal(signal.SIGTERM)
        child.wait()
    finally:
        deadline.cancel()
    assert log and log[-1].startswith("{"), "".join(log)
    report = json.loads(log[-1])
    return report["code"], report["loaded"], "".join(log[:-1])


@pytest.fixture
def store(tmp_path: Path, migrated_sqlite: Path) -> Path:
    return seed_migrated_store(tmp_path / "data", migrated_sqlite)


def test_help_lists_every_command_without_loading_any_commands_libraries(tmp_path: Path) -> None:
    code, loaded, shown = loaded_by(tmp_path, "--help")
    assert code == 0
    for command in ("subscribers", "ingest", "deliver", "status", "run", "digest", "correct", "demo"):
        assert f" {command} " in shown
    assert loaded == []


def test_an_import_loads_only_the_store_and_the_checks(tmp_path: Path, store: Path) -> None:
    readers = tmp_path / "readers.csv"
    readers.write_text("telegram_chat,email,topics\n1001,ana@example.org,world\n", encoding="utf-8")
    code, loaded, shown = loaded_by(tmp_path, "subscribers", "import", str(readers))
    assert code == 0, shown
    assert loaded == []
    assert sqlite3.connect(store).execute("SELECT count(*) FROM addresses").fetchone() == (2,)


def test_a_store_already_current_is_not_handed_to_alembic(tmp_path: Path, store: Path) -> None:
    """Alembic and its scripts load only when there is a migration to run, not on every command's start."""
    code, loaded, _ = loaded_by(tmp_path, "status", watched=("alembic", "subscribers.migrations.env"))
    assert (code, loaded) == (0, [])


def test_status_loads_no_channel_nor_renderer(tmp_path: Path, store: Path) -> None:
    code, loaded, _ = loaded_by(tmp_path, "status")
    assert (code, loaded) == (0, [])


def test_a_command_that_renders_still_gets_its_libraries(tmp_path: Path, store: Path) -> None:
    """The other side: the laziness defers the renderer to its first use, it does not lose it."""
    story = tmp_path / "story.txt"
    story.write_text("Rain tomorrow\n\nHeavy rain is expected across the region tomorrow.\n", encoding="utf-8")
    code, loaded, shown = loaded_by(tmp_path, "preview", str(story))
    assert code == 0, shown
    assert {"jinja2", "mjml"} <= set(loaded)


def test_a_worker_loads_neither_the_web_side_nor_the_bot(tmp_path: Path, store: Path) -> None:
    """`run --role worker` runs deliveries and social posts: FastAPI, uvicorn and the bot's handlers stay out."""
    code, loaded, log = loaded_while_running(tmp_path, "--role", "worker", watched=(*WEB_SIDE, *BOT_SIDE))
    assert (code, loaded) == (0, []), log
    assert "running: topics, loop lag, delivery, social" in log


def test_the_web_role_still_gets_the_web_side(tmp_path: Path, store: Path) -> None:
    """The other side: the web side loads where it is served, and the bot's handlers still stay out."""
    code, loaded, log = loaded_while_running(tmp_path, "--role", "web", watched=(*WEB_SIDE, *BOT_SIDE))
    assert (code, sorted(loaded)) == (0, sorted(WEB_SIDE)), log
    assert "web side on http://127.0.0.1:" in log


def test_run_reports_an_unreachable_store_before_loading_the_web_side_or_the_bot(tmp_path: Path) -> None:
    code, loaded, _ = loaded_by(
        tmp_path,
        "run",
        watched=(*WEB_SIDE, *BOT_SIDE, "telegram"),
        NEWSBOT_DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:1/newsbot",
        NEWSBOT_WEB_PORT="0",
    )
    assert (code, loaded) == (1, [])


def test_a_command_does_not_walk_every_loaded_object_again_on_exit(tmp_path: Path) -> None:
    """Python's last collections at exit would walk every object of every library loaded, to free what the exit
    frees anyway (a third of a second of CPU after `newsbot deliver`); the objects are frozen first."""
    env = child_env(tmp_path)
    # Exit handlers run last registered first: this one, registered before newsbot's, sees what newsbot's did.
    child_code = (
        "import atexit, gc\n"
        "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0))\n"
        "from bot.cli import app\n"
        "app(['--help'], prog_name='newsbot')\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", child_code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.splitlines()[-1] == "frozen at exit: True"
