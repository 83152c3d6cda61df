"""The command line, as an editor uses it: real files, a real store (SQLite, and PostgreSQL when configured),
file outboxes."""

from __future__ import annotations

import asyncio
import csv
import email
import email.policy
import json
import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner, Result

from bot.cli import app
from bot.cli.reader_changes import PENDING_NOTICE
from subscribers.database import create_engine
from subscribers.migrate import head_revision
from tests.newsroom_fixtures import SAMPLE_STORY, seed_migrated_store, use_embedded_defaults

REQUIRED_SLUGS = {"north-korea", "us-politics", "russia", "ukraine", "world", "business", "tech", "science",
                  "health", "sports", "local", "weather", "culture"}


@pytest.fixture
def fresh_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Path:
    """A fresh directory with no .env and no NEWSBOT_* variables: the embedded defaults (or a scratch PostgreSQL)."""
    use_embedded_defaults(tmp_path, monkeypatch)
    if database_url.startswith("postgresql"):
        monkeypatch.setenv("NEWSBOT_DATABASE_URL", database_url)
    return tmp_path


@pytest.fixture
def workdir(fresh_workdir: Path, database_url: str, migrated_sqlite: Path) -> Path:
    """The same, its SQLite store already migrated (a copy of the template), as after the machine's first run."""
    if database_url.startswith("sqlite"):
        seed_migrated_store(fresh_workdir / "data", migrated_sqlite)
    return fresh_workdir


def newsbot(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def count_rows(workdir: Path, table: str) -> int:
    url = os.environ.get("NEWSBOT_DATABASE_URL")
    if url:
        return asyncio.run(_count_rows(url, table))
    database = workdir / "data" / "newsbot.sqlite3"
    if not database.exists():
        return 0
    with sqlite3.connect(database) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


async def _count_rows(url: str, table: str) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
    finally:
        await engine.dispose()


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("newsbot: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def add_sample_readers() -> None:
    assert newsbot("subscribers", "add", "--telegram-chat", "101", "--topic", "north-korea").exit_code == 0
    assert newsbot("subscribers", "add", "--telegram-chat", "102", "--topic", "sports").exit_code == 0
    result = newsbot("subscribers", "add", "--email", "nk@example.org", "--confirmed", "--topic", "North Korea",
                     "--cadence", "email=instant")
    assert result.exit_code == 0, result.stderr


def test_ingest_json_reports_story_and_recipients_per_channel(workdir: Path) -> None:
    add_sample_readers()
    result = newsbot("ingest", str(SAMPLE_STORY), "--json")
    assert result.exit_code == 0, result.stderr
    story = json.loads(result.stdout.strip())
    assert {"id", "title", "topics", "summary", "breaking", "recipients"} <= set(story)
    assert story["topics"][0] == "north-korea" and story["breaking"] is False
    assert story["recipients"] == {"telegram": 1, "email": 1}

    again = json.loads(newsbot("ingest", str(SAMPLE_STORY), "--json").stdout.strip())
    assert again["id"] == story["id"] and again["created"] is False
    assert again["recipients"] == {"telegram": 0, "email": 0}
    assert count_rows(workdir, "deliveries") == 2


def test_ingest_human_output_names_title_topics_and_counts(workdir: Path) -> None:
    add_sample_readers()
    result = newsbot("ingest", str(SAMPLE_STORY), "--breaking", "--topic", "world")
    assert result.exit_code == 0, result.stderr
    assert "topics:   world, north-korea" in result.stdout
    assert "breaking: yes" in result.stdout
    assert "queued for: telegram 1, email 1" in result.stdout


def test_dry_run_stores_nothing(workdir: Path) -> None:
    add_sample_readers()
    result = newsbot("ingest", str(SAMPLE_STORY), "--dry-run", "--json")
    assert json.loads(result.stdout)["recipients"] == {"telegram": 1, "email": 1}
    assert count_rows(workdir, "stories") == 0 and count_rows(workdir, "deliveries") == 0


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        (b"", ("bad.txt", "story is empty")),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00", ("bad.txt", "binary file")),
        (b"<script>alert('x')</script>", ("bad.txt", "story has no text")),
        (b"word " * 1_000_000, ("bad.txt", "5.0 MB", "NEWSBOT_MAX_STORY_BYTES")),
    ],
    ids=["empty", "binary", "only-a-script", "5mb"],
)
def test_bad_story_files_get_one_line_errors_and_nothing_is_written(
    workdir: Path, content: bytes, fragments: tuple[str, ...]
) -> None:
    add_sample_readers()
    bad = workdir / "bad.txt"
    bad.write_bytes(content)
    # The good story comes first: a bad file anywhere in the batch must leave nothing half-ingested.
    result = newsbot("ingest", str(SAMPLE_STORY), str(bad))
    assert_one_line_error(result, *fragments)
    assert count_rows(workdir, "stories") == 0 and count_rows(workdir, "deliveries") == 0


def test_unreadable_path_is_named(workdir: Path) -> None:
    assert_one_line_error(newsbot("ingest", "no/such/story.txt"), "no/such/story.txt", "no such file")
    assert_one_line_error(newsbot("ingest", str(workdir)), "is a directory")


def test_unknown_topic_is_refused_with_a_suggestion(workdir: Path) -> None:
    result = newsbot("ingest", str(SAMPLE_STORY), "--topic", "nort-korea")
    assert_one_line_error(result, "unknown topic 'nort-korea'", "did you mean north-korea")
    assert count_rows(workdir, "stories") == 0


def test_invalid_email_address_is_refused_and_nothing_is_added(workdir: Path) -> None:
    result = newsbot("subscribers", "add", "--email", "not-an-address", "--topic", "local")
    assert_one_line_error(result, "invalid email address 'not-an-address'")
    assert count_rows(workdir, "subscribers") == 0


def test_subscriber_needs_an_address_and_a_known_topic(workdir: Path) -> None:
    assert_one_line_error(newsbot("subscribers", "add", "--topic", "local"), "Telegram chat id or an email")
    assert_one_line_error(
        newsbot("subscribers", "add", "--telegram-chat", "5", "--topic", "footbal"), "unknown topic 'footbal'"
    )
    assert_one_line_error(
        newsbot("subscribers", "add", "--telegram-chat", "5", "--topic", "local", "--cadence", "sms=instant"),
        "invalid --cadence",
    )
    assert count_rows(workdir, "subscribers") == 0


def test_subscribers_add_list_and_remove(workdir: Path) -> None:
    add_sample_readers()
    listed = json.loads(newsbot("subscribers", "list", "--json").stdout)
    assert [s["topics"] for s in listed] == [["north-korea"], ["sports"], ["north-korea"]]
    assert listed[2]["addresses"]["email"] == {"address": "nk@example.org", "cadence": "instant", "status": "active"}

    pending = newsbot("subscribers", "add", "--email", "new@example.org", "--topic", "local")
    assert "nothing until it is confirmed" in pending.stdout

    assert newsbot("subscribers", "remove", "--email", "nk@example.org").exit_code == 0
    assert newsbot("subscribers", "remove", "--telegram-chat", "101").exit_code == 0
    assert_one_line_error(newsbot("subscribers", "remove", "--telegram-chat", "101"), "no subscriber")
    assert len(json.loads(newsbot("subscribers", "list", "--json").stdout)) == 2
    assert "3 subscriber(s)" not in newsbot("subscribers", "list").stdout


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, ["telegram_chat", "email", "topics", "confirmed", "telegram_cadence",
                                    "email_cadence"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_csv_import_with_errors_imports_nothing_and_names_the_lines(workdir: Path) -> None:
    path = write_csv(workdir / "readers.csv", [
        {"telegram_chat": "1", "topics": "north-korea;world"},
        {"email": "broken@", "topics": "local"},
        {"telegram_chat": "2", "topics": "no-such-topic"},
        {"telegram_chat": "1", "topics": "sports"},
        {"email": "ok@example.org", "topics": "local", "confirmed": "perhaps"},
    ])
    result = newsbot("subscribers", "import", str(path))
    assert result.exit_code == 1
    assert "readers.csv:line 3: invalid email address 'broken@'" in result.stderr
    assert "readers.csv:line 4: unknown topic 'no-such-topic'" in result.stderr
    assert "readers.csv:line 5: 1 already appears on line 2" in result.stderr
    assert "readers.csv:line 6: confirmed must be" in result.stderr
    assert "4 of 5 rows are invalid; nothing imported" in result.stderr
    assert count_rows(workdir, "subscribers") == 0

    skipped = newsbot("subscribers", "import", str(path), "--skip-invalid")
    assert skipped.exit_code == 0
    assert "Imported 1 of 5 rows" in skipped.stdout
    assert count_rows(workdir, "subscribers") == 1


def test_csv_import_of_many_rows_is_bulk_and_merges_existing_addresses(workdir: Path) -> None:
    add_sample_readers()
    rows = [{"telegram_chat": str(10_000 + i), "email": f"reader{i}@example.org", "topics": "north-korea;local",
             "confirmed": "yes", "email_cadence": "instant"} for i in range(3000)]
    rows.append({"telegram_chat": "101", "topics": "weather"})  # already subscribed: gets weather added
    result = newsbot("subscribers", "import", str(write_csv(workdir / "many.csv", rows)))
    assert result.exit_code == 0, result.stderr
    assert "3000 new subscribers, 1 existing ones updated" in result.stdout
    assert count_rows(workdir, "subscribers") == 3003
    assert count_rows(workdir, "addresses") == 6003
    topics = {s["addresses"].get("telegram", {}).get("address"): s["topics"]
              for s in json.loads(newsbot("subscribers", "list", "--json").stdout)}
    assert topics["101"] == ["north-korea", "weather"]


def test_csv_with_a_bad_header_is_refused(workdir: Path) -> None:
    path = workdir / "bad.csv"
    path.write_text("chat,topic\n1,local\n", encoding="utf-8")
    assert_one_line_error(newsbot("subscribers", "import", str(path)), "line 1")


def test_topics_lists_the_default_taxonomy(workdir: Path) -> None:
    topics = json.loads(newsbot("topics", "--json").stdout)
    assert len(topics) >= 15
    assert {t["slug"] for t in topics} >= REQUIRED_SLUGS
    assert "north-korea" in newsbot("topics").stdout


def test_deliver_writes_file_outboxes_then_has_nothing_left(workdir: Path) -> None:
    add_sample_readers()
    newsbot("ingest", str(SAMPLE_STORY))
    result = newsbot("deliver")
    assert result.exit_code == 0, result.stderr
    assert "sent: email 1, telegram 1" in result.stdout
    telegram = list((workdir / "data" / "outbox" / "telegram").glob("*.html"))
    emails = list((workdir / "data" / "outbox" / "email").glob("*.eml"))
    assert len(telegram) == 1 and len(emails) == 1
    message = email.message_from_bytes(emails[0].read_bytes(), policy=email.policy.default)
    assert message["To"] == "nk@example.org"
    assert newsbot("deliver").stdout.strip() == "Nothing to deliver."


def test_preview_writes_the_rendered_message_without_storing_anything(workdir: Path) -> None:
    result = newsbot("preview", str(SAMPLE_STORY), "--channel", "telegram")
    assert result.exit_code == 0, result.stderr
    page = Path(result.stdout.strip())
    assert page.exists() and "<b>" in page.read_text(encoding="utf-8")
    mail = newsbot("preview", str(SAMPLE_STORY), "--channel", "email")
    html_page, eml = (Path(line) for line in mail.stdout.split())
    assert "<html" in html_page.read_text(encoding="utf-8").lower() and eml.suffix == ".eml"
    assert count_rows(workdir, "stories") == 0


def test_db_upgrade_reports_the_revision(fresh_workdir: Path) -> None:
    result = newsbot("db", "upgrade")
    assert result.exit_code == 0 and f"revision {head_revision()}" in result.stdout


def test_bad_setting_fails_at_start_naming_it(workdir: Path) -> None:
    result = newsbot("topics", env={"NEWSBOT_PUBLIC_URL": "ftp://example.org"})
    assert_one_line_error(result, "NEWSBOT_PUBLIC_URL")
    result = newsbot("topics", env={"NEWSBOT_SUMMARY_CHARS": "lots"})
    assert_one_line_error(result, "NEWSBOT_SUMMARY_CHARS")


def test_demo_runs_on_embedded_defaults_and_twice_changes_nothing(fresh_workdir: Path) -> None:
    workdir = fresh_workdir
    first = newsbot("demo")
    assert first.exit_code == 0, first.stderr
    assert "telegram 100001: received it" in first.stdout
    assert "sports.fan@example.org: nothing: does not follow" in first.stdout
    assert "weekly.reader@example.org: nothing now: gets it in the weekly digest" in first.stdout
    assert "not.confirmed@example.org: nothing: waiting for double opt-in" in first.stdout
    outbox = workdir / "data" / "outbox"
    files = sorted(p.name for p in outbox.rglob("*") if p.is_file())
    index = outbox / "index.html"
    assert index.exists() and f"Every rendered message: {index.relative_to(workdir)}" in first.stdout
    assert "Trump leaned on memories" in index.read_text(encoding="utf-8")
    counts = {t: count_rows(workdir, t) for t in ("subscribers", "stories", "deliveries")}

    second = newsbot("demo")
    assert second.exit_code == 0
    assert "already ingested" in second.stdout
    assert sorted(p.name for p in outbox.rglob("*") if p.is_file()) == files
    assert {t: count_rows(workdir, t) for t in counts} == counts


def test_demo_story_comes_in_through_the_intake_so_the_audit_lists_it(workdir: Path) -> None:
    assert newsbot("demo").exit_code == 0
    (entry,) = json.loads(newsbot("audit", "--json").stdout)
    assert entry["actor"] == "demo" and entry["action"] == "story"
    assert entry["details"]["title"] and entry["details"]["social_posts"] == 0
    assert entry["recipients"] == sum(entry["details"]["recipients"].values()) > 0
    assert "demo" in newsbot("audit").stdout


def test_one_email_address_in_any_case_is_one_subscriber(workdir: Path) -> None:
    for spelling in ("Jane.Doe@Example.ORG", "jane.doe@example.org", "JANE.DOE@EXAMPLE.ORG"):
        assert newsbot("subscribers", "add", "--email", spelling, "--topic", "local").exit_code == 0
    (listed,) = json.loads(newsbot("subscribers", "list", "--json").stdout)
    assert listed["addresses"]["email"]["address"] == "Jane.Doe@example.org"  # as typed first (domain normalised)

    both = write_csv(workdir / "twice.csv", [{"email": "new@example.org", "topics": "local"},
                                              {"email": "NEW@example.org", "topics": "sports"}])
    result = newsbot("subscribers", "import", str(both))
    assert "twice.csv:line 3: NEW@example.org already appears on line 2" in result.stderr
    known = write_csv(workdir / "known.csv", [{"email": "jane.DOE@example.org", "topics": "weather"}])
    assert "0 new subscribers, 1 existing ones updated" in newsbot("subscribers", "import", str(known)).stdout
    (listed,) = json.loads(newsbot("subscribers", "list", "--json").stdout)
    assert listed["topics"] == ["local", "weather"]

    removed = newsbot("subscribers", "remove", "--email", "JANE.doe@example.org")
    assert removed.exit_code == 0, removed.stderr
    assert count_rows(workdir, "subscribers") == 0


def test_adding_an_existing_address_applies_confirmation_and_cadence_and_says_what_changed(workdir: Path) -> None:
    newsbot("subscribers", "add", "--email", "reader@example.org", "--topic", "sports")
    result = newsbot("subscribers", "add", "--email", "Reader@example.org", "--confirmed", "--topic", "local",
                     "--cadence", "email=instant")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "reader@example.org: confirmed; email cadence weekly → instant; follows +local"
    ]  # and no "nothing until confirmed": it is active now
    (listed,) = json.loads(newsbot("subscribers", "list", "--json").stdout)
    assert listed["addresses"]["email"] == {"address": "reader@example.org", "cadence": "instant", "status": "active"}
    assert listed["topics"] == ["local", "sports"]

    again = newsbot("subscribers", "add", "--email", "reader@example.org", "--topic", "local")
    assert again.stdout.splitlines() == ["reader@example.org: nothing changed"]
    chat = newsbot("subscribers", "add", "--email", "reader@example.org", "--telegram-chat", "77", "--topic", "local",
                   "--cadence", "telegram=weekly")
    assert chat.stdout.splitlines() == ["reader@example.org: telegram chat 77 added"]
    assert count_rows(workdir, "subscribers") == 1

    pending = newsbot("subscribers", "add", "--email", "other@example.org", "--topic", "local")
    assert "nothing until it is confirmed" in pending.stdout
    still = newsbot("subscribers", "add", "--email", "other@example.org", "--topic", "sports")
    assert still.stdout.splitlines() == ["other@example.org: follows +sports", PENDING_NOTICE]
    assert_one_line_error(
        newsbot("subscribers", "add", "--email", "other@example.org", "--telegram-chat", "77", "--topic", "local"),
        "belong to different subscribers",
    )


def test_subscribers_update_changes_topics_cadence_and_confirmation(workdir: Path) -> None:
    newsbot("subscribers", "add", "--email", "reader@example.org", "--telegram-chat", "88", "--topic", "local",
            "--topic", "sports")
    result = newsbot("subscribers", "update", "--email", "READER@example.org", "--topic", "weather",
                     "--remove-topic", "sports", "--cadence", "email=instant", "--confirmed")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == (
        "reader@example.org: confirmed; email cadence weekly → instant; follows +weather -sports"
    )
    exact = newsbot("subscribers", "update", "--telegram-chat", "88", "--set-topic", "tech", "--set-topic", "Local",
                    "--cadence", "telegram=off")
    assert exact.stdout.strip() == "reader@example.org: telegram cadence instant → off; follows +tech -weather"
    (listed,) = json.loads(newsbot("subscribers", "list", "--json").stdout)
    assert listed["topics"] == ["local", "tech"]
    assert listed["addresses"]["email"]["status"] == "active"
    assert listed["addresses"]["telegram"]["cadence"] == "off"
    assert newsbot("subscribers", "update", "--telegram-chat", "88", "--topic", "tech").stdout.strip() == (
        "reader@example.org: nothing changed"
    )

    assert_one_line_error(newsbot("subscribers", "update", "--email", "nobody@example.org", "--topic", "local"),
                          "no subscriber with email address nobody@example.org")
    assert_one_line_error(newsbot("subscribers", "update", "--telegram-chat", "89", "--topic", "local"),
                          "no subscriber")
    assert_one_line_error(newsbot("subscribers", "update", "--email", "reader@example.org", "--topic", "footbal"),
                          "unknown topic 'footbal'")
    newsbot("subscribers", "add", "--telegram-chat", "90", "--topic", "local")
    assert_one_line_error(newsbot("subscribers", "update", "--telegram-chat", "90", "--confirmed"),
                          "no email address to confirm")
    assert newsbot("subscribers", "update", "--email", "reader@example.org").exit_code == 2


def test_a_story_with_no_topic_is_flagged_and_retagging_queues_it_until_it_has_gone_out(workdir: Path) -> None:
    add_sample_readers()
    plain = workdir / "minutes.txt"
    plain.write_text("The committee met on Tuesday to review the minutes of the previous gathering and adjourned.\n",
                     encoding="utf-8")
    first = newsbot("ingest", str(plain), "--json")
    story = json.loads(first.stdout)
    assert story["topics"] == [] and story["recipients"] == {"telegram": 0, "email": 0}
    assert first.stderr.strip() == (
        f"newsbot: warning: story {story['id']} has no topic: nobody will receive it; add one with "
        f"`newsbot retag {story['id']} --topic SLUG` before it goes out"
    )

    # Ingesting it again with a topic is the same story: still nothing, still the warning ...
    again = newsbot("ingest", str(plain), "--topic", "north-korea")
    assert "already ingested" in again.stdout and "has no topic" in again.stderr
    # ... unless --retag says to add the topics to the stored story.
    retagged = newsbot("ingest", str(plain), "--topic", "north-korea", "--retag")
    assert retagged.exit_code == 0, retagged.stderr
    assert "topics added: north-korea" in retagged.stdout and "queued for: telegram 1, email 1" in retagged.stdout
    assert retagged.stderr == ""
    sports = json.loads(newsbot("retag", story["id"], "--topic", "sports", "--json").stdout)
    assert sports["topics"] == ["north-korea", "sports"] and sports["recipients"] == {"telegram": 1, "email": 0}
    assert count_rows(workdir, "deliveries") == 3
    assert [e["action"] for e in json.loads(newsbot("audit", "--json").stdout)][:2] == ["retag", "retag"]

    assert newsbot("deliver").exit_code == 0
    assert_one_line_error(newsbot("retag", story["id"], "--topic", "weather"),
                          f"story {story['id']} has already gone out to 3 readers")
    assert_one_line_error(newsbot("retag", "no-such-story", "--topic", "weather"), "no story with id 'no-such-story'")
    assert_one_line_error(newsbot("retag", story["id"], "--topic", "footbal"), "unknown topic 'footbal'")
    assert newsbot("ingest", str(plain), "--retag", "--dry-run").exit_code == 2

    other = workdir / "more-minutes.txt"
    other.write_text("The committee met again on Friday and adjourned before lunch.\n", encoding="utf-8")
    pushed = CliRunner().invoke(app, ["push", str(other)], input="n\n")
    assert "(none: nobody will receive it)" in pushed.stdout and "newsbot: warning:" in pushed.stderr
