"""An import whose insert still breaks a unique constraint (an address signed up meanwhile, one kept under an older
email key, two entries of one address handed straight to the store) ends as one sentence naming the address, on
the command line and on the desk, with nothing imported; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from bot.app.config import Settings
from bot.app.newsroom import Newsroom
from bot.cli import app
from subscribers import readers
from subscribers.database import create_engine
from subscribers.import_conflicts import ImportConflict
from subscribers.preferences import build_subscriber, read_subscribers_csv
from subscribers.readers import NewAddress, NewSubscriber
from subscribers.schema import AddressStatus, Cadence, ChannelName, addresses, follows, subscribers
from tests.desk_sessions import csrf_of, desk_client
from tests.newsroom_fixtures import add_reader

ROWS = "telegram_chat,email,topics,confirmed\n700,first@example.org,world,yes\n701,Old.Key@example.org,local,yes\n"


def reader_with(email: str) -> NewSubscriber:
    return NewSubscriber((NewAddress(ChannelName.EMAIL, email, Cadence.WEEKLY, AddressStatus.ACTIVE),), ("world",))


async def store_reader_under_an_older_key(url: str) -> None:
    """A reader whose stored email key is not the one today's definition gives their address (as an earlier one
    might have) but today's key of another address: the import cannot take that address as theirs, nor store it."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await readers.add_subscribers(conn, [reader_with("Someone.Else@example.org")], datetime.now(UTC))
            await conn.execute(update(addresses).values(email_key="old.key@example.org"))
    finally:
        await engine.dispose()


async def counts(url: str) -> tuple[int, int, int]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return tuple(
                [
                    (await conn.execute(select(func.count()).select_from(t))).scalar_one()
                    for t in (subscribers, addresses, follows)
                ]
            )  # type: ignore[return-value]
    finally:
        await engine.dispose()


def test_the_command_names_an_address_held_under_an_older_key_in_one_line_and_imports_nothing(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_DATABASE_URL", settings.database_url)
    asyncio.run(store_reader_under_an_older_key(settings.database_url))
    before = asyncio.run(counts(settings.database_url))
    path = tmp_path / "readers.csv"
    path.write_text(ROWS, encoding="utf-8")
    result = CliRunner().invoke(app, ["subscribers", "import", str(path)])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith("newsbot: error: email address 'Old.Key@example.org' is already held by reader")
    assert "nothing imported" in result.stderr and "IntegrityError" not in result.stderr
    assert asyncio.run(counts(settings.database_url)) == before


async def test_the_desk_names_an_address_held_under_an_older_key_and_imports_nothing(
    newsroom: Newsroom, settings: Settings
) -> None:
    await store_reader_under_an_older_key(settings.database_url)
    before = await counts(settings.database_url)
    async with desk_client(newsroom, role="admin") as client:
        token = csrf_of((await client.get("/desk/readers/import")).text)
        files = {"file": ("readers.csv", ROWS.encode(), "text/csv")}
        refused = await client.post("/desk/readers/import", data={"csrf_token": token}, files=files)
    assert refused.status_code == 422
    assert "email address &#39;Old.Key@example.org&#39; is already held by reader" in refused.text
    assert await counts(settings.database_url) == before


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_an_address_signed_up_between_the_check_and_the_copy_is_named(
    newsroom: Newsroom, settings: Settings
) -> None:
    """PostgreSQL only: SQLite's import holds the write lock from BEGIN, so no signup gets in between."""
    await add_reader(newsroom, "world", email="early@example.org")
    parsed = read_subscribers_csv(ROWS.replace("Old.Key", "late"), newsroom.taxonomy)

    def signup_meanwhile(_: int) -> None:
        # Called once the addresses were looked up; a second connection signs one of them up and commits.
        if not signed_up:
            signed_up.append(True)
            signup = store_in_another_connection(settings.database_url, reader_with("LATE@example.org"))
            thread = threading.Thread(target=asyncio.run, args=(signup,))
            thread.start()
            thread.join()

    signed_up: list[bool] = []
    with pytest.raises(ImportConflict, match=r"^email address 'late@example.org' is already held by reader \d+ as"):
        async with newsroom.engine.begin() as conn:
            await readers.add_subscribers(conn, parsed.subscribers, datetime.now(UTC), signup_meanwhile)
    assert signed_up and await counts(settings.database_url) == (2, 2, 2)


async def store_in_another_connection(url: str, reader: NewSubscriber) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await readers.add_subscribers(conn, [reader], datetime.now(UTC))
    finally:
        await engine.dispose()


async def test_a_chat_id_given_twice_to_the_store_is_named(newsroom: Newsroom) -> None:
    twice = build_subscriber(newsroom.taxonomy, telegram_chat="77", email=None, topics=["world"])
    with pytest.raises(ImportConflict, match=r"^Telegram chat 77 appears twice in the import; nothing imported$"):
        async with newsroom.engine.begin() as conn:
            await readers.add_subscribers(conn, [twice, twice], datetime.now(UTC))
    async with newsroom.engine.connect() as conn:
        assert (await conn.execute(select(subscribers.c.id))).all() == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_conflict_on_no_address_is_still_one_sentence(newsroom: Newsroom) -> None:
    """An id sequence set back (a restore by hand) makes the import draw an id a reader has: no address to name,
    the store's own reason in one line instead."""
    await add_reader(newsroom, "world", email="early@example.org")
    async with newsroom.engine.begin() as conn:
        await conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('subscribers', 'id'), 1, false)")
    with pytest.raises(ImportConflict) as refused:
        async with newsroom.engine.begin() as conn:
            await readers.add_subscribers(conn, [reader_with("new@example.org")], datetime.now(UTC))
    assert str(refused.value).startswith("the store refused the import (duplicate key value violates unique")
    assert "Key (id)=(1) already exists." in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_conflict_while_the_indexes_are_built_again_names_the_address_and_keeps_them(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The large-import path (indexes dropped, rows written, indexes built again) meets the same address: the
    savepoint takes the rows and the dropped indexes back."""
    monkeypatch.setattr(readers, "REBUILD_INDEXES_FROM", 1)
    monkeypatch.setenv("NEWSBOT_DATABASE_URL", settings.database_url)
    asyncio.run(store_reader_under_an_older_key(settings.database_url))
    before = asyncio.run(counts(settings.database_url))
    indexes = asyncio.run(index_names(settings.database_url))
    path = tmp_path / "readers.csv"
    path.write_text(ROWS, encoding="utf-8")
    statements: list[str] = []
    with capture_statements(statements):
        result = CliRunner().invoke(app, ["subscribers", "import", str(path)])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "email address 'Old.Key@example.org' is already held by reader" in result.stderr
    assert any(s.strip().startswith("DROP INDEX") for s in statements)  # the path under test was taken
    assert asyncio.run(counts(settings.database_url)) == before
    assert asyncio.run(index_names(settings.database_url)) == indexes


async def index_names(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            found = await conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name")
            return list(found.scalars())
    finally:
        await engine.dispose()


@contextmanager
def capture_statements(seen: list[str]) -> Iterator[None]:
    """Every statement any engine sends to its driver while the block runs."""

    def remember(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", remember)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", remember)
