"""The command line with hostile text and broken stores: user text is printed as given, and a store or data dir
that cannot be used is one line on stderr naming the setting, never a traceback."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from bot.cli import app
from tests import postgres_databases
from tests.fakes import SmtpSink
from tests.newsroom_fixtures import use_embedded_defaults

#: Rich markup (a stray closing tag, a colour, a hyperlink) and an emoji code: printed as given, or the CLI crashes,
#: restyles the terminal or turns ":fire:" into a picture.
HOSTILE = "[/bold] [red]red[/red] [link=https://evil.example]click[/link] :fire:"
DESK = "desk@fairview-gazette.example"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh directory with no .env and no NEWSBOT_* variables: the embedded defaults, on SQLite."""
    return use_embedded_defaults(tmp_path, monkeypatch)


def newsbot(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def assert_one_line_error(result: Result, *fragments: str) -> str:
    """Exit 1, and stderr is one line "newsbot: error: ..." holding every fragment, with no traceback."""
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("newsbot: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def story_file(directory: Path, title: str, name: str = "story.md") -> Path:
    path = directory / name
    path.write_text(
        f"---\ntitle: '{title}'\nid: 'budget-vote:fire:'\n---\nThe council in Pyongyang voted on the budget for North "
        "Korea on Friday.\n",
        encoding="utf-8",
    )
    return path


# --- user text is printed as given ------------------------------------------------------------------------------


def test_ingest_prints_a_title_full_of_markup_as_given(workdir: Path) -> None:
    title = f"Budget {HOSTILE} vote"
    result = newsbot("ingest", str(story_file(workdir, title)))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"{title}  (new)"
    assert "id:       budget-vote:fire:" in result.stdout

    again = newsbot("ingest", str(story_file(workdir, title)))
    assert again.stdout.splitlines()[0] == f"{title}  (already ingested, nothing new queued)"


def test_preview_and_push_show_the_story_as_given(workdir: Path) -> None:
    title = f"Budget {HOSTILE} vote"
    path = story_file(workdir, title, name="[red]budget[bold].md")
    preview = newsbot("preview", str(path))
    assert preview.exit_code == 0, preview.stderr
    assert preview.stdout.strip().endswith("budget-vote:fire:.telegram.html")

    pushed = newsbot("push", str(path), "--yes", "--topic", "local")
    assert pushed.exit_code == 0, pushed.stderr
    assert title in pushed.stdout
    assert "Pushed budget-vote:fire:" in pushed.stdout


def test_topics_from_a_custom_taxonomy_are_listed_as_given(workdir: Path) -> None:
    topics = workdir / "topics.toml"
    topics.write_text(
        '[[topic]]\nslug = "budget"\nname = "[bold]Budget"\ndescription = ":fire: [link=https://evil.example]x"\n'
        'keywords = ["budget"]\n',
        encoding="utf-8",
    )
    result = newsbot("topics", env={"NEWSBOT_TOPICS_FILE": str(topics)})
    assert result.exit_code == 0, result.stderr
    assert "[bold]Budget" in result.stdout and ":fire: [link=https://evil.example]x" in result.stdout


def test_csv_values_and_subscribers_are_printed_as_given(workdir: Path) -> None:
    path = workdir / "readers.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["email", "topics"])
        writer.writeheader()
        writer.writerow({"email": "[red]desk[/red]:fire:@fairview-gazette.example", "topics": "world"})
        writer.writerow({"email": DESK, "topics": "[/bold]"})
        writer.writerow({"email": "news@fairview-gazette.example", "topics": "world"})
    imported = newsbot("subscribers", "import", str(path), "--skip-invalid")
    assert imported.exit_code == 0, imported.stderr
    assert "'[red]desk[/red]:fire:@fairview-gazette.example'" in imported.stderr
    assert "'[/bold]'" in imported.stderr

    listed = newsbot("subscribers", "list")
    assert listed.exit_code == 0, listed.stderr
    assert "news@fairview-gazette.example" in listed.stdout and "1 subscriber(s)" in listed.stdout


def test_audit_shows_the_actor_as_given(workdir: Path) -> None:
    # The CLI's actor is the login name, which comes from the environment like any other user text.
    user = {"LOGNAME": "[red]x:fire:", "USER": "[red]x:fire:"}
    assert newsbot("ingest", str(story_file(workdir, "Budget vote")), env=user).exit_code == 0
    result = newsbot("audit")
    assert result.exit_code == 0, result.stderr
    assert "cli:[red]x:fire:" in result.stdout
    assert "budget-vote:fire:" in result.stdout


def test_status_shows_a_relay_refusal_as_given(workdir: Path) -> None:
    assert newsbot("subscribers", "add", "--email", DESK, "--confirmed", "--topic", "local",
                   "--cadence", "email=instant").exit_code == 0
    assert newsbot("ingest", str(story_file(workdir, "Budget vote")), "--topic", "local").exit_code == 0
    with SmtpSink() as sink:
        sink.reject_data(554, f"5.6.0 {HOSTILE}")
        delivered = newsbot("deliver", env={"NEWSBOT_SMTP_URL": sink.url})
    assert delivered.exit_code == 1 and "failed: email 1" in delivered.stdout
    status = newsbot("status")
    assert status.exit_code == 0, status.stderr
    assert f"smtp 554 5.6.0 {HOSTILE}" in status.stdout


# --- an unusable store or data dir is one line naming the setting ------------------------------------------------

#: A host name that glibc refuses before asking any DNS server (a "!" is not allowed in host names), so the test
#: sees a real resolver failure without sending a query off this machine, as "db" or "db.invalid" would.
UNRESOLVABLE = "db!invalid"


def _corrupt_sqlite(directory: Path) -> str:
    path = directory / "corrupt.sqlite3"
    path.write_bytes(b"this is not a SQLite database, only text written over it\n" * 200)
    return f"sqlite+aiosqlite:///{path}"


BAD_DATABASE_URLS = {
    "postgres-unreachable": (lambda d: "postgresql+asyncpg://postgres@127.0.0.1:1/x", "connection refused"),
    "host-unresolvable": (lambda d: f"postgresql+asyncpg://newsbot@{UNRESOLVABLE}/newsbot", "cannot resolve the host"),
    "mysql": (lambda d: "mysql://newsbot@127.0.0.1/newsbot", "unsupported URL scheme 'mysql://'"),
    "sync-sqlite-driver": (lambda d: f"sqlite:///{d / 'x.sqlite3'}", "write sqlite+aiosqlite://"),
    "unparsable": (lambda d: "sqlite+aiosqlite://:not a url", "cannot parse"),
    "sqlite-corrupt": (_corrupt_sqlite, "is not a usable SQLite database"),
    "sqlite-is-a-directory": (lambda d: f"sqlite+aiosqlite:///{d}", "is a directory"),
    "sqlite-under-a-file": (lambda d: f"sqlite+aiosqlite:///{d / 'story.md' / 'x.sqlite3'}", "cannot create"),
}


@pytest.mark.parametrize("case", list(BAD_DATABASE_URLS))
@pytest.mark.parametrize("command", [["status"], ["db", "upgrade"], ["subscribers", "list"]])
def test_an_unusable_database_url_is_one_line_naming_the_setting(
    workdir: Path, case: str, command: list[str]
) -> None:
    (workdir / "story.md").write_text("a file where a directory should be\n", encoding="utf-8")
    make_url, cause = BAD_DATABASE_URLS[case]
    result = newsbot(*command, env={"NEWSBOT_DATABASE_URL": make_url(workdir)})
    assert_one_line_error(result, "NEWSBOT_DATABASE_URL: ", cause)


def test_ingest_into_an_unreachable_store_stores_nothing_and_says_so(workdir: Path) -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:1/newsbot"
    result = newsbot("ingest", str(story_file(workdir, "Budget vote")), env={"NEWSBOT_DATABASE_URL": url})
    assert_one_line_error(result, "NEWSBOT_DATABASE_URL: cannot connect to PostgreSQL at 127.0.0.1:1/newsbot")


def test_a_missing_postgres_database_is_named() -> None:
    if not postgres_databases.POSTGRES_URL:
        pytest.skip(postgres_databases.SKIP_REASON)
    url = postgres_databases.sqlalchemy_url("newsbot_does_not_exist")
    result = newsbot("status", env={"NEWSBOT_DATABASE_URL": url})
    assert_one_line_error(result, "NEWSBOT_DATABASE_URL: PostgreSQL at ", 'database "newsbot_does_not_exist" does not')


def test_the_password_of_the_database_url_is_not_printed(workdir: Path) -> None:
    url = "postgresql+asyncpg://newsbot:hunter2-secret@127.0.0.1:1/newsbot"
    line = assert_one_line_error(newsbot("status", env={"NEWSBOT_DATABASE_URL": url}), "connection refused")
    assert "hunter2-secret" not in line


def test_a_corrupt_default_store_names_the_data_dir(workdir: Path) -> None:
    (workdir / "data").mkdir()
    (workdir / "data" / "newsbot.sqlite3").write_bytes(b"\x00garbage" * 1000)
    result = newsbot("status")
    assert_one_line_error(result, "NEWSBOT_DATA_DIR: SQLite file ", "newsbot.sqlite3 is not a usable SQLite database")


@pytest.mark.parametrize(
    ("data_dir", "cause"),
    [("afile", "afile is a file, not a directory"), ("afile/data", "cannot create afile/data: afile is a file")],
    ids=["is-a-file", "under-a-file"],
)
def test_a_data_dir_that_is_or_is_under_a_file_is_named(workdir: Path, data_dir: str, cause: str) -> None:
    (workdir / "afile").write_text("not a directory\n", encoding="utf-8")
    for command in (["status"], ["ingest", str(story_file(workdir, "Budget vote"))], ["demo"]):
        result = newsbot(*command, env={"NEWSBOT_DATA_DIR": data_dir})
        assert_one_line_error(result, "NEWSBOT_DATA_DIR: ", cause)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, where nothing can be created")
def test_a_data_dir_that_cannot_be_made_is_named(workdir: Path) -> None:
    result = newsbot("status", env={"NEWSBOT_DATA_DIR": "/proc/newsbot-data"})
    assert_one_line_error(result, "NEWSBOT_DATA_DIR: cannot create the directory /proc/newsbot-data")


def test_run_reports_an_unreachable_store_in_one_line(tmp_path: Path) -> None:
    """`newsbot run` as deployed: a real process, its whole stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    env |= {"NEWSBOT_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/newsbot", "NEWSBOT_WEB_PORT": "0"}
    command = Path(sys.executable).with_name("newsbot")
    child = subprocess.run([str(command), "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert child.returncode == 1, child.stderr
    assert child.stderr.splitlines() == [
        "newsbot: error: NEWSBOT_DATABASE_URL: cannot connect to PostgreSQL at 127.0.0.1:1/newsbot: "
        "connection refused (is the server running?)"
    ]


# --- files that are not text ------------------------------------------------------------------------------------


def test_a_binary_csv_is_one_line(workdir: Path) -> None:
    path = workdir / "readers.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    assert_one_line_error(newsbot("subscribers", "import", str(path)), "readers.csv: is a binary file")
    latin = workdir / "latin.csv"
    latin.write_bytes("email,topics\ncaf\u00e9@fairview-gazette.example,world\n".encode("latin-1"))
    assert_one_line_error(newsbot("subscribers", "import", str(latin)), "latin.csv: is not UTF-8 text")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig"])
def test_a_csv_saved_as_unicode_with_a_bom_is_imported(workdir: Path, encoding: str) -> None:
    path = workdir / "readers.csv"
    text = f"email,topics\n{DESK},world\n"
    bom = {"utf-16-le": "\ufeff", "utf-16-be": "\ufeff"}.get(encoding, "")
    path.write_bytes((bom + text).encode(encoding))
    result = newsbot("subscribers", "import", str(path))
    assert result.exit_code == 0, result.stderr
    listed = json.loads(newsbot("subscribers", "list", "--json").stdout)
    assert [v["addresses"]["email"]["address"] for v in listed] == [DESK]
