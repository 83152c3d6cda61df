"""The bulk import of readers: every row checked first, duplicates as before, rows written in batches, on SQLite
and PostgreSQL, and a progress bar only on a terminal."""

from __future__ import annotations

import csv
import gc
import os
import pty
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event, select
from typer.testing import CliRunner

from bot.app.newsroom import Newsroom
from bot.cli import app
from subscribers import bulk_statements, preferences, readers
from subscribers.import_conflicts import ImportConflict
from subscribers.preferences import build_subscriber, read_subscribers_csv
from subscribers.schema import addresses, follows, subscribers
from tests.newsroom_fixtures import add_reader, use_embedded_defaults

HEADER = ["telegram_chat", "email", "topics", "confirmed", "email_cadence"]


def many_rows(count: int) -> list[list[str]]:
    return [[str(5000 + i), f"Reader{i}@Example.ORG", "world;Local", "yes", "instant"] for i in range(count)]


def csv_text(rows: list[list[str]]) -> str:
    return "\n".join(",".join(row) for row in [HEADER, *rows]) + "\n"


def test_one_bad_row_among_many_names_its_line_and_field_and_nothing_is_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_embedded_defaults(tmp_path, monkeypatch)
    rows = many_rows(3000)
    rows[1500][1] = "reader1500@example..org"
    rows[2200][2] = "world;no-such-topic"
    rows[2500][4] = "hourly"
    path = tmp_path / "readers.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([HEADER, *rows])
    result = CliRunner().invoke(app, ["subscribers", "import", str(path)])
    assert result.exit_code == 1
    assert "readers.csv:line 1502: invalid email address 'reader1500@example..org'" in result.stderr
    assert "readers.csv:line 2202: unknown topic 'no-such-topic'" in result.stderr
    assert "readers.csv:line 2502: invalid cadence 'hourly'" in result.stderr
    assert "3 of 3000 rows are invalid; nothing imported" in result.stderr
    listed = CliRunner().invoke(app, ["subscribers", "list"])
    assert "0 subscriber(s)" in listed.stdout


def test_the_collector_is_paused_while_rows_are_checked_and_back_as_it_was_after(
    newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(preferences, "PROGRESS_EVERY", 10)
    during: list[bool] = []
    parsed = read_subscribers_csv(csv_text(many_rows(30)), newsroom.taxonomy, lambda _: during.append(gc.isenabled()))
    assert len(parsed.subscribers) == 30
    assert during == [False, False, False, True] and gc.isenabled()  # the last call comes after the rows
    gc.disable()
    try:
        read_subscribers_csv(csv_text(many_rows(3)), newsroom.taxonomy)
        assert not gc.isenabled()  # switched off by someone else: left off
    finally:
        gc.enable()


async def test_rows_are_written_in_batches_and_known_addresses_merge(
    newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    known = await add_reader(newsroom, "sports", email="reader7@example.org")
    parsed = read_subscribers_csv(csv_text(many_rows(50)), newsroom.taxonomy)
    assert parsed.errors == []
    assert parsed.subscribers[7].addresses[1].address == "Reader7@example.org"  # domain normalised, local as given
    monkeypatch.setattr(readers, "BATCH", 8)  # several batches, one of them short
    seen: list[int] = []
    async with newsroom.engine.begin() as conn:
        outcome = await readers.add_subscribers(conn, parsed.subscribers, datetime.now(UTC), seen.append)
    assert (outcome.created, outcome.merged, outcome.added) == (49, 1, 1)
    assert seen == [1, 9, 17, 25, 33, 41, 49, 50]
    async with newsroom.engine.connect() as conn:
        assert len((await conn.execute(select(subscribers.c.id))).all()) == 50
        rows = (await conn.execute(select(addresses).order_by(addresses.c.id))).all()
        topics = (await conn.execute(select(follows.c.topic).where(follows.c.subscriber_id == known))).scalars()
        assert sorted(topics) == ["local", "sports", "world"]
    assert len(rows) == 100  # 49 new readers with two addresses, one known reader who had one and got the other
    assert next(r for r in rows if r.address == "5007").subscriber_id == known
    email = next(r for r in rows if r.address == "Reader3@example.org")
    assert (email.email_key, email.cadence, email.status, email.breaking_email) == (
        "reader3@example.org",
        "instant",
        "active",
        False,
    )
    assert email.confirmed_at is not None and email.created_at.tzinfo is not None


async def test_rows_split_over_many_insert_statements_keep_every_value_and_time(
    newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite writes several rows per INSERT; a batch that does not divide evenly still writes every row, and the
    import's times read back as the ones a single write stores."""
    monkeypatch.setattr(bulk_statements, "SQLITE_ROWS_PER_INSERT", 4)
    parsed = read_subscribers_csv(csv_text(many_rows(31)), newsroom.taxonomy)
    now = datetime(2026, 3, 1, 12, 30, 15, 250000, tzinfo=UTC)
    async with newsroom.engine.begin() as conn:
        outcome = await readers.add_subscribers(conn, parsed.subscribers, now)
    single = await add_reader(newsroom, "sports", email="single@example.org")
    assert (outcome.created, outcome.merged) == (31, 0)
    async with newsroom.engine.connect() as conn:
        rows = (await conn.execute(select(addresses).where(addresses.c.subscriber_id != single))).all()
        chats = {r.address for r in rows if r.channel == "telegram"}
        times = {(r.created_at, r.updated_at, r.confirmed_at) for r in rows if r.channel == "email"}
        topics = (await conn.execute(select(follows.c.topic).where(follows.c.subscriber_id != single))).all()
        if conn.dialect.name == "sqlite":
            stored = await conn.exec_driver_sql(
                "SELECT DISTINCT created_at, updated_at FROM addresses WHERE subscriber_id != ?", (single,)
            )
            assert stored.all() == [("2026-03-01 12:30:15.250000", "2026-03-01 12:30:15.250000")]
    assert len(rows) == 62 and len(topics) == 62
    assert chats == {str(5000 + i) for i in range(31)}
    assert times == {(now, now, now)}


async def store_indexes(newsroom: Newsroom) -> list[tuple[str, str | None]]:
    async with newsroom.engine.connect() as conn:
        found = await conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name")
        return [tuple(row) for row in found]


def statements_seen(newsroom: Newsroom) -> list[str]:
    """Every statement the store runs from now on, as sent to the driver."""
    seen: list[str] = []
    event.listen(newsroom.engine.sync_engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_large_import_builds_the_indexes_again_and_leaves_the_same_ones(
    newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readers, "REBUILD_INDEXES_FROM", 5)
    before = await store_indexes(newsroom)
    await add_reader(newsroom, "sports", email="early@example.org")
    statements = statements_seen(newsroom)
    parsed = read_subscribers_csv(csv_text(many_rows(3)), newsroom.taxonomy)
    async with newsroom.engine.begin() as conn:  # fewer than REBUILD_INDEXES_FROM: indexes kept
        await readers.add_subscribers(conn, parsed.subscribers, datetime.now(UTC))
    assert not [s for s in statements if "INDEX" in s]
    parsed = read_subscribers_csv(csv_text(many_rows(20)[3:]), newsroom.taxonomy)
    async with newsroom.engine.begin() as conn:  # 17 new against 4 held: built again
        outcome = await readers.add_subscribers(conn, parsed.subscribers, datetime.now(UTC))
    assert outcome.created == 17
    assert [s.split(" ON ")[0].strip() for s in statements if "INDEX" in s] == [
        "DROP INDEX ix_addresses_email_key",
        "DROP INDEX ix_follows_topic_subscriber_id",
        "CREATE UNIQUE INDEX ix_addresses_email_key",
        "CREATE INDEX ix_follows_topic_subscriber_id",
    ]
    assert await store_indexes(newsroom) == before
    async with newsroom.engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA integrity_check")).scalar() == "ok"
        plan = await conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT subscriber_id FROM addresses WHERE email_key = 'reader7@example.org'"
        )
        assert "ix_addresses_email_key" in " ".join(str(row[-1]) for row in plan)
        found = await readers.find_subscriber_ids(conn, [("email", "READER19@example.org")])
    assert list(found) == [("email", "READER19@example.org")]


async def test_an_import_into_a_store_without_addresses_looks_none_up(newsroom: Newsroom) -> None:
    statements = statements_seen(newsroom)
    parsed = read_subscribers_csv(csv_text(many_rows(5)), newsroom.taxonomy)
    async with newsroom.engine.begin() as conn:
        first = await readers.add_subscribers(conn, parsed.subscribers, datetime.now(UTC))
    assert (first.created, first.merged) == (5, 0)
    assert not [s for s in statements if "email_key" in s and "SELECT" in s]
    parsed = read_subscribers_csv(csv_text(many_rows(7)), newsroom.taxonomy)
    async with newsroom.engine.begin() as conn:  # now there are addresses to find
        again = await readers.add_subscribers(conn, parsed.subscribers, datetime.now(UTC))
    assert (again.created, again.merged) == (2, 5)
    assert [s for s in statements if "email_key" in s and "SELECT" in s]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_key_conflict_found_when_an_index_is_built_again_imports_nothing(
    newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two spellings of one address, passed straight to the store: only the rebuilt unique index of email keys
    sees them; the statement fails, the error names the address, and the transaction takes rows and dropped
    indexes back with it."""
    monkeypatch.setattr(readers, "REBUILD_INDEXES_FROM", 1)
    before = await store_indexes(newsroom)
    spellings = [
        build_subscriber(newsroom.taxonomy, telegram_chat=None, email=email, topics=["world"])
        for email in ("Ana@example.org", "ana@example.org")
    ]
    named = r"^email address 'ana@example.org' appears twice in the import \(also as 'Ana@example.org'\); nothing"
    with pytest.raises(ImportConflict, match=named):
        async with newsroom.engine.begin() as conn:
            await readers.add_subscribers(conn, spellings, datetime.now(UTC))
    async with newsroom.engine.connect() as conn:
        assert (await conn.execute(select(subscribers.c.id))).all() == []
        assert (await conn.execute(select(addresses.c.id))).all() == []
    assert await store_indexes(newsroom) == before


def run_import_in(tmp_path: Path, *, terminal: bool) -> str:
    """`newsbot subscribers import` in its own process, its stdout a terminal (a pseudo-terminal) or a pipe."""
    path = tmp_path / "readers.csv"
    path.write_text(csv_text(many_rows(20)), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    env |= {"NEWSBOT_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "100", "TERM": "xterm"}
    command = [str(Path(sys.executable).with_name("newsbot")), "subscribers", "import", str(path)]
    if not terminal:
        child = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert child.returncode == 0, child.stderr
        return child.stdout
    controller, terminal_end = pty.openpty()
    child = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=terminal_end, stderr=subprocess.PIPE)
    os.close(terminal_end)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    assert child.wait(timeout=120) == 0
    return output.decode(errors="replace")


def test_the_progress_bar_shows_on_a_terminal_only(tmp_path: Path) -> None:
    (tmp_path / "tty").mkdir()
    (tmp_path / "pipe").mkdir()
    on_terminal = run_import_in(tmp_path / "tty", terminal=True)
    assert "Checking rows" in on_terminal and "Importing" in on_terminal and "20/20" in on_terminal
    assert "Imported 20 of 20 rows: 20 new subscribers" in on_terminal
    piped = run_import_in(tmp_path / "pipe", terminal=False)
    assert piped == "Imported 20 of 20 rows: 20 new subscribers, 0 existing ones updated, 0 addresses added.\n"
