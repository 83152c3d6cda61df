"""An import row meets readers the store knows: a known address's other, new address joins that reader with the
row's topics; a row naming two readers is refused in one line and nothing is imported (unless --skip-invalid);
an address kept under an older email key is still that reader. On the command line and the desk, on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from bot.app.config import Settings
from bot.app.newsroom import Newsroom
from bot.cli import app
from subscribers import readers
from subscribers.database import create_engine
from subscribers.readers import NewAddress, NewSubscriber
from subscribers.schema import AddressStatus, Cadence, ChannelName, addresses, follows, subscribers
from tests.desk_sessions import csrf_of, desk_client

HEADER = "telegram_chat,email,topics,confirmed,email_cadence\n"


def chat(chat_id: str) -> NewAddress:
    return NewAddress(ChannelName.TELEGRAM, chat_id, Cadence.INSTANT, AddressStatus.ACTIVE)


def email(address: str, status: AddressStatus = AddressStatus.ACTIVE) -> NewAddress:
    return NewAddress(ChannelName.EMAIL, address, Cadence.WEEKLY, status)


async def store(url: str, *known: tuple[NewAddress, ...], older_key: str | None = None) -> list[int]:
    """Readers with these addresses (following sports), their ids in order; *older_key*, if given, becomes the
    stored key of every email address (as an earlier definition of the key might have written it)."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await readers.add_subscribers(conn, [NewSubscriber(a, ("sports",)) for a in known], datetime.now(UTC))
            if older_key is not None:
                await conn.execute(update(addresses).where(addresses.c.channel == "email").values(email_key=older_key))
            ids = (await conn.execute(select(subscribers.c.id).order_by(subscribers.c.id))).scalars()
            return list(ids)
    finally:
        await engine.dispose()


async def held(url: str) -> tuple[int, list[tuple[int, str, str, str, str]], list[tuple[int, str]]]:
    """Readers, their addresses (reader, channel, address, cadence, status) and follows (reader, topic)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            count = (await conn.execute(select(func.count()).select_from(subscribers))).scalar_one()
            columns = (addresses.c.subscriber_id, addresses.c.channel, addresses.c.address)
            query = select(*columns, addresses.c.cadence, addresses.c.status).order_by(*columns)
            found = [tuple(r) for r in await conn.execute(query)]
            topics = select(follows.c.subscriber_id, follows.c.topic).order_by(follows.c.subscriber_id, follows.c.topic)
            return count, found, [tuple(r) for r in await conn.execute(topics)]  # type: ignore[return-value]
    finally:
        await engine.dispose()


def run_import(settings: Settings, tmp_path: Path, text: str, *options: str) -> tuple[int, str, str]:
    path = tmp_path / "readers.csv"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["subscribers", "import", str(path), *options])
    return result.exit_code, result.stdout, result.stderr.replace(str(path), "readers.csv")


def test_a_known_address_brings_the_rows_other_address_and_topics_to_its_reader(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_DATABASE_URL", settings.database_url)
    by_chat, by_email = asyncio.run(store(settings.database_url, (chat("700"),), (email("Ben@example.org"),)))
    rows = "700,new@example.org,world,yes,instant\n9001,BEN@example.org,local,no,\n9002,fresh@example.org,world,no,\n"
    code, stdout, stderr = run_import(settings, tmp_path, HEADER + rows)
    assert (code, stderr) == (0, "")
    assert stdout == "Imported 3 of 3 rows: 1 new subscribers, 2 existing ones updated, 2 addresses added.\n"
    count, found, topics = asyncio.run(held(settings.database_url))
    assert count == 3
    # The added addresses take the row's columns; the known ones keep their own.
    assert (by_chat, "email", "new@example.org", "instant", "active") in found
    assert (by_chat, "telegram", "700", "instant", "active") in found
    assert (by_email, "telegram", "9001", "instant", "active") in found
    assert (by_email, "email", "Ben@example.org", "weekly", "active") in found
    assert [t for t in topics if t[0] in (by_chat, by_email)] == [
        (by_chat, "sports"),
        (by_chat, "world"),
        (by_email, "local"),
        (by_email, "sports"),
    ]
    again = run_import(settings, tmp_path, HEADER + rows)  # once added, the row is a known reader's
    assert again[1] == "Imported 3 of 3 rows: 0 new subscribers, 3 existing ones updated, 0 addresses added.\n"


def test_a_row_naming_two_readers_is_refused_in_one_line_and_nothing_is_imported(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSBOT_DATABASE_URL", settings.database_url)
    first, second, third = asyncio.run(
        store(settings.database_url, (chat("700"),), (email("ben@example.org"),), (chat("800"), email("c@example.org")))
    )
    before = asyncio.run(held(settings.database_url))
    rows = (
        "9002,fresh@example.org,world,no,\n"
        "700,Ben@example.org,world,no,\n"
        "800,other@example.org,world,no,\n"
        "not-a-chat,,world,no,\n"
    )
    code, stdout, stderr = run_import(settings, tmp_path, HEADER + rows)
    assert (code, stdout) == (1, "")
    assert stderr.splitlines() == [
        "readers.csv:line 3: Telegram chat 700 belongs to reader "
        f"{first}, email address 'Ben@example.org' to reader {second}",
        f"readers.csv:line 4: Telegram chat 800 belongs to reader {third}, who already has email address "
        "'c@example.org', not other@example.org",
        stderr.splitlines()[2],
        "newsbot: error: 3 of 4 rows are invalid; nothing imported (fix them, or pass --skip-invalid to import the "
        "valid rows)",
    ]
    assert stderr.splitlines()[2].startswith("readers.csv:line 5: ")
    assert asyncio.run(held(settings.database_url)) == before

    code, stdout, stderr = run_import(settings, tmp_path, HEADER + rows, "--skip-invalid")
    assert code == 0 and stderr.count("\n") == 3
    assert stdout == (
        "Imported 1 of 4 rows: 1 new subscribers, 0 existing ones updated, 0 addresses added, 3 invalid rows skipped\n"
    )
    count, found, _ = asyncio.run(held(settings.database_url))
    assert count == 4 and len(found) == len(before[1]) + 2


@pytest.mark.parametrize("older_key", ["Jane@Example.ORG", "older-form:jane@example.org"])
def test_an_address_kept_under_an_older_key_is_still_its_reader(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, older_key: str
) -> None:
    """Stored as typed long ago (domain in capitals) under a key today's definition does not give: the row's
    normal form differs from that spelling and its key from the stored one, and yet it is the same reader."""
    monkeypatch.setenv("NEWSBOT_DATABASE_URL", settings.database_url)
    (jane,) = asyncio.run(store(settings.database_url, (email("Jane@Example.ORG"),), older_key=older_key))
    code, stdout, stderr = run_import(settings, tmp_path, HEADER + "700,Jane@Example.ORG,world,no,\n")
    assert (code, stderr) == (0, "")
    assert stdout == "Imported 1 of 1 rows: 0 new subscribers, 1 existing ones updated, 1 addresses added.\n"
    count, found, topics = asyncio.run(held(settings.database_url))
    assert count == 1
    assert [(r[0], r[1], r[2]) for r in found] == [(jane, "email", "Jane@Example.ORG"), (jane, "telegram", "700")]
    assert topics == [(jane, "sports"), (jane, "world")]


async def _desk_import(client: httpx.AsyncClient, text: str) -> str:
    token = csrf_of((await client.get("/desk/readers/import")).text)
    files = {"file": ("readers.csv", text.encode(), "text/csv")}
    answer = await client.post("/desk/readers/import", data={"csrf_token": token}, files=files)
    return f"{answer.status_code} {answer.text}"


async def test_the_desk_adds_a_known_readers_new_address_and_refuses_a_row_naming_two(
    newsroom: Newsroom, settings: Settings
) -> None:
    first, second = await store(settings.database_url, (chat("700"),), (email("ben@example.org"),))
    before = await held(settings.database_url)
    async with desk_client(newsroom, role="admin") as client:
        refused = await _desk_import(
            client, HEADER + "9002,fresh@example.org,world,no,\n700,ben@example.org,world,no,\n"
        )
        assert refused.startswith("422 ")
        assert "1 of 2 rows are invalid; nothing was imported" in refused
        named = f"line 3: Telegram chat 700 belongs to reader {first}, email address &#39;ben@example.org&#39;"
        assert f"{named} to reader {second}" in refused
        assert await held(settings.database_url) == before

        done = await _desk_import(client, HEADER + "9002,fresh@example.org,world,no,\n700,new@example.org,world,no,\n")
    assert done.startswith("200 ")
    assert "Imported 2 of 2 rows from readers.csv: 1 new readers, 1 existing ones updated, 1 addresses added." in done
    _, found, _ = await held(settings.database_url)
    assert (first, "email", "new@example.org", "weekly", "pending") in found
