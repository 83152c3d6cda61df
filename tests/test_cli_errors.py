"""The command line with hostile text and broken stores: user text is printed as given, and a store or data dir
that cannot be used is one line on stderr naming the setting, never a traceback."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from bot.cli import app
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
