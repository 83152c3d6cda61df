"""Moving an installation between stores with `newsbot db copy`: every row arrives, ids keep working."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.app.config import load_settings
from bot.app.newsroom import Newsroom
from bot.cli import app
from bot.rendering.signed_links import LinkSigner
from subscribers.database import create_engine
from subscribers.schema import metadata
from subscribers.store_secret import SIGNING_KEY, stored_secret
from tests import postgres_databases
from tests.newsroom_fixtures import SAMPLE_STORY, seed_migrated_store, use_embedded_defaults


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


@pytest.fixture(scope="session")
def demo_sqlite(tmp_path_factory: pytest.TempPathFactory, migrated_sqlite: Path) -> Path:
    """`newsbot demo` run once per test process on embedded defaults: the store every copy test starts from."""
    directory = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_embedded_defaults(directory, monkeypatch)
        store = seed_migrated_store(directory / "data", migrated_sqlite)
        assert newsbot("demo").exit_code == 0
    return store


@pytest.fixture
def populated_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_sqlite: Path) -> str:
    """A SQLite installation with readers, the sample story and its deliveries (a copy of the demo's store)."""
    use_embedded_defaults(tmp_path, monkeypatch)
    (tmp_path / "data").mkdir()
    shutil.copyfile(demo_sqlite, tmp_path / "data" / "newsbot.sqlite3")
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
    assert (
        newsbot(
            "subscribers", "add", "--telegram-chat", "5", "--topic", "local", env={"NEWSBOT_DATABASE_URL": other}
        ).exit_code
        == 0
    )
    result = newsbot("db", "copy", "--from", populated_sqlite, "--to", other)
    assert result.exit_code == 1
    assert "not empty" in result.stderr
    assert asyncio.run(table_counts(other))["subscribers"] == 1


def test_postgres_variants_explain_how_to_enable_them() -> None:
    assert "NEWSBOT_TEST_POSTGRES_URL" in postgres_databases.SKIP_REASON


async def store_secret_of(url: str) -> str | None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await stored_secret(conn, SIGNING_KEY)
    finally:
        await engine.dispose()


def test_copy_carries_the_stores_signing_secret_so_mailed_links_keep_working(
    populated_sqlite: str, tmp_path: Path
) -> None:
    source_secret = asyncio.run(store_secret_of(populated_sqlite))
    assert source_secret  # `newsbot demo` ran with NEWSBOT_SECRET_KEY unset: the store made one
    target = f"sqlite+aiosqlite:///{tmp_path / 'copy' / 'newsbot.sqlite3'}"
    assert newsbot("subscribers", "list", env={"NEWSBOT_DATABASE_URL": target}).exit_code == 0
    assert asyncio.run(store_secret_of(target)) not in (None, source_secret)  # an empty store made its own

    result = newsbot("db", "copy", "--from", populated_sqlite, "--to", target)
    assert result.exit_code == 0, result.stderr
    assert asyncio.run(store_secret_of(target)) == source_secret
    link = LinkSigner(source_secret, "http://127.0.0.1:8080").token("unsubscribe", 1)

    async def verified_on_target() -> dict[str, object]:
        async with await Newsroom.open(load_settings(database_url=target)) as newsroom:
            return newsroom.signer.verify("unsubscribe", link)

    assert asyncio.run(verified_on_target()) == {"subscriber_id": 1}


def assert_one_line_error(result, *fragments: str) -> None:
    """Exit 1; stderr is one line "newsbot: error: ..." holding every fragment; no traceback anywhere."""
    assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("newsbot: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_copy_from_a_sqlite_file_that_does_not_exist_fails_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_embedded_defaults(tmp_path, monkeypatch)
    missing, target = tmp_path / "typo" / "newsbot.sqlite3", tmp_path / "copy" / "newsbot.sqlite3"
    result = newsbot("db", "copy", "--from", f"sqlite+aiosqlite:///{missing}", "--to", f"sqlite+aiosqlite:///{target}")
    assert_one_line_error(result, f"--from: SQLite file {missing} does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # neither the source, nor its dir, nor the target


#: The README's example host is "db", a name only its compose network resolves; asking DNS for it (or for
#: "db.invalid") would send a query off this machine. A "!" makes the resolver refuse the name locally.
UNRESOLVABLE_TARGET = "postgresql+asyncpg://newsbot@db!invalid/newsbot"


def test_the_readmes_example_against_an_unresolvable_host_is_one_line(populated_sqlite: str) -> None:
    before = asyncio.run(table_counts(populated_sqlite))
    result = newsbot("db", "copy", "--from", "sqlite+aiosqlite:///data/newsbot.sqlite3", "--to", UNRESOLVABLE_TARGET)
    assert_one_line_error(result, "--to: cannot resolve the host of PostgreSQL at db!invalid/newsbot")
    assert asyncio.run(table_counts(populated_sqlite)) == before


def _corrupt(tmp_path: Path) -> str:
    path = tmp_path / "corrupt.sqlite3"
    path.write_bytes(b"not a SQLite database, just words written over it\n" * 200)
    return f"sqlite+aiosqlite:///{path}"


BAD_STORES = {
    "unreachable": (lambda d: "postgresql+asyncpg://newsbot@127.0.0.1:1/newsbot", "connection refused"),
    "unresolvable": (lambda d: UNRESOLVABLE_TARGET, "cannot resolve the host"),
    "mysql": (lambda d: "mysql://newsbot@127.0.0.1/newsbot", "unsupported URL scheme 'mysql://'"),
    "corrupt-sqlite": (_corrupt, "is not a usable SQLite database"),
    "sqlite-under-a-file": (lambda d: f"sqlite+aiosqlite:///{d / 'a-file' / 'x.sqlite3'}", "x.sqlite3"),
}


@pytest.mark.parametrize("case", list(BAD_STORES))
@pytest.mark.parametrize("option", ["--from", "--to"])
def test_an_unusable_store_on_either_side_is_one_line_naming_the_option(
    populated_sqlite: str, tmp_path: Path, case: str, option: str
) -> None:
    (tmp_path / "a-file").write_text("where a directory should be\n", encoding="utf-8")
    make_url, cause = BAD_STORES[case]
    bad = make_url(tmp_path)
    other = populated_sqlite if option == "--to" else f"sqlite+aiosqlite:///{tmp_path / 'copy' / 'newsbot.sqlite3'}"
    source, target = (bad, other) if option == "--from" else (other, bad)
    result = newsbot("db", "copy", "--from", source, "--to", target)
    assert_one_line_error(result, f"{option}: ", cause)
    if option == "--from":
        assert not (tmp_path / "copy").exists()


def test_copy_into_a_missing_postgres_database_names_it(populated_sqlite: str) -> None:
    if not postgres_databases.POSTGRES_URL:
        pytest.skip(postgres_databases.SKIP_REASON)
    target = postgres_databases.sqlalchemy_url("newsbot_copy_does_not_exist")
    result = newsbot("db", "copy", "--from", populated_sqlite, "--to", target)
    assert_one_line_error(result, "--to: PostgreSQL at ", 'database "newsbot_copy_does_not_exist" does not exist')
