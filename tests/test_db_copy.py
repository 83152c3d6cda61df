"""Moving an installation between stores with `newsbot db copy`: every row arrives, ids keep working."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.cli import app
from subscribers.database import create_engine
from subscribers.schema import metadata
from tests import postgres_databases
from tests.newsroom_fixtures import SAMPLE_STORY, use_embedded_defaults


def newsbot(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, list(args), env=env)


async def table_counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return {
                t.name: (await conn.execute(select(func.count()).select_from(t))).scalar_one()
                for t in metadata.sorted_tables
            }
    finally:
        await engine.dispose()


@pytest.fixture
def populated_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SQLite installation with readers, the sample story and its deliveries."""
    use_embedded_defaults(tmp_path, monkeypatch)
    assert newsbot("demo").exit_code == 0
    return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'newsbot.sqlite3'}"


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_copy_moves_every_row_and_new_ids_continue_after_the_copied_ones(
    populated_sqlite: str, database_url: str, tmp_path: Path
) -> None:
    if database_url.startswith("sqlite"):  # the fixture's own SQLite path is the source: copy elsewhere
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'copy' / 'newsbot.sqlite3'}"
    result = newsbot("db", "copy", "--from", populated_sqlite, "--to", database_url)
    assert result.exit_code == 0, result.stderr
    source, target = asyncio.run(table_counts(populated_sqlite)), asyncio.run(table_counts(database_url))
    assert target == source and source["deliveries"] == 3 and source["subscribers"] == 5
    assert "Copied" in result.stdout

    env = {"NEWSBOT_DATABASE_URL": database_url}
    added = newsbot("subscribers", "add", "--telegram-chat", "999", "--topic", "world", env=env)
    assert added.exit_code == 0, added.stderr
    again = newsbot("ingest", str(SAMPLE_STORY), "--json", env=env)
    assert '"created": false' in again.stdout  # the copied story is recognised: nobody gets it twice


def test_copy_into_a_store_with_data_is_refused_and_changes_nothing(populated_sqlite: str, tmp_path: Path) -> None:
    other = f"sqlite+aiosqlite:///{tmp_path / 'other.sqlite3'}"
    assert newsbot("subscribers", "add", "--telegram-chat", "5", "--topic", "local",
                   env={"NEWSBOT_DATABASE_URL": other}).exit_code == 0
    result = newsbot("db", "copy", "--from", populated_sqlite, "--to", other)
    assert result.exit_code == 1
    assert "not empty" in result.stderr
    assert asyncio.run(table_counts(other))["subscribers"] == 1


def test_postgres_variants_explain_how_to_enable_them() -> None:
    assert "NEWSBOT_TEST_POSTGRES_URL" in postgres_databases.SKIP_REASON
