"""The subscriber store: migrations, subscribers, and planning a story as one set-based statement."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, select, text

from bot.app.newsroom import Newsroom
from bot.stories.story import Story
from subscribers import deliveries as deliveries_store
from subscribers import readers, status, stories
from subscribers.database import create_engine
from subscribers.migrate import alembic_config, head_revision, upgrade_database
from subscribers.schema import Cadence, ChannelName, addresses, deliveries, follows, metadata
from tests.newsroom_fixtures import add_reader


def story(*topics: str, breaking: bool = False, story_id: str = "s1") -> Story:
    return Story(id=story_id, title="A story", body="Body.", summary="Body.", topics=topics, breaking=breaking)


async def test_migrations_create_exactly_the_schema_the_code_uses(newsroom: Newsroom) -> None:
    async with newsroom.engine.connect() as conn:
        differences = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), metadata))
    assert differences == []


async def test_migrating_twice_is_harmless_and_reports_the_revision(newsroom: Newsroom) -> None:
    assert await upgrade_database(newsroom.engine) == head_revision()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_sqlite_store_runs_in_wal_mode_with_foreign_keys(newsroom: Newsroom) -> None:
    async with newsroom.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1


def test_the_head_read_from_the_scripts_revision_lines_is_the_one_alembic_finds() -> None:
    from alembic.script import ScriptDirectory

    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


async def test_store_directory_is_created_on_first_use(tmp_path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'dir' / 'store.db'}")
    try:
        assert await upgrade_database(engine) == head_revision()
    finally:
        await engine.dispose()
    assert (tmp_path / "nested" / "dir" / "store.db").exists()


async def test_adding_an_existing_address_adds_topics_instead_of_a_second_subscriber(newsroom: Newsroom) -> None:
    first = await add_reader(newsroom, "north-korea", telegram_chat="42")
    second = await add_reader(newsroom, "sports", "north-korea", telegram_chat="42")
    assert first == second
    async with newsroom.engine.connect() as conn:
        views = await readers.list_subscribers(conn)
    assert len(views) == 1
    assert views[0].topics == ["north-korea", "sports"]


async def test_default_cadence_is_instant_on_telegram_and_weekly_by_email(newsroom: Newsroom) -> None:
    await add_reader(newsroom, "local", telegram_chat="7", email="reader@example.org")
    async with newsroom.engine.connect() as conn:
        rows = {r.channel: r.cadence for r in await conn.execute(select(addresses))}
    assert rows == {"telegram": "instant", "email": "weekly"}


async def test_removing_a_subscriber_erases_addresses_follows_and_deliveries(newsroom: Newsroom) -> None:
    reader = await add_reader(newsroom, "north-korea", telegram_chat="42")
    now = datetime.now(UTC)
    async with newsroom.engine.begin() as conn:
        await stories.save_story(conn, story("north-korea"), now)
        await deliveries_store.plan_story_deliveries(conn, story("north-korea"), now)
        assert await readers.remove_subscriber(conn, reader)
        for table in (addresses, follows, deliveries):
            assert (await conn.execute(select(table))).all() == []


async def plan(newsroom: Newsroom, s: Story) -> dict[str, int]:
    now = datetime.now(UTC)
    async with newsroom.engine.begin() as conn:
        await stories.save_story(conn, s, now)
        await deliveries_store.plan_story_deliveries(conn, s, now)
        return await deliveries_store.count_story_deliveries(conn, s.id)


async def planned_addresses(newsroom: Newsroom, story_id: str) -> set[tuple[str, str]]:
    async with newsroom.engine.connect() as conn:
        return {(r.channel, r.address) for r in await status.list_deliveries(conn) if r.story_id == story_id}


async def test_a_story_is_planned_for_followers_of_its_topics_only(newsroom: Newsroom) -> None:
    await add_reader(newsroom, "north-korea", telegram_chat="1")
    await add_reader(newsroom, "sports", telegram_chat="2")
    await add_reader(newsroom, "russia", "north-korea", telegram_chat="3")  # follows two: still one message
    await add_reader(newsroom, "north-korea", email="now@example.org", cadences={ChannelName.EMAIL: Cadence.INSTANT})
    await add_reader(newsroom, "north-korea", email="weekly@example.org")  # waits for the digest
    await add_reader(
        newsroom,
        "north-korea",
        email="pending@example.org",
        confirmed=False,
        cadences={ChannelName.EMAIL: Cadence.INSTANT},
    )
    await add_reader(newsroom, "north-korea", telegram_chat="5", cadences={ChannelName.TELEGRAM: Cadence.OFF})

    assert await plan(newsroom, story("north-korea", "russia")) == {"telegram": 2, "email": 1}
    assert await planned_addresses(newsroom, "s1") == {
        ("telegram", "1"),
        ("telegram", "3"),
        ("email", "now@example.org"),
    }


async def test_breaking_story_reaches_weekly_chats_and_breaking_email_opt_ins(newsroom: Newsroom) -> None:
    await add_reader(newsroom, "north-korea", telegram_chat="1", cadences={ChannelName.TELEGRAM: Cadence.WEEKLY})
    await add_reader(newsroom, "north-korea", telegram_chat="2", cadences={ChannelName.TELEGRAM: Cadence.OFF})
    opted_in = await add_reader(newsroom, "north-korea", email="opted@example.org")
    await add_reader(newsroom, "north-korea", email="weekly@example.org")
    async with newsroom.engine.begin() as conn:
        await conn.execute(addresses.update().where(addresses.c.subscriber_id == opted_in).values(breaking_email=True))

    assert await plan(newsroom, story("north-korea", breaking=True)) == {"telegram": 1, "email": 1}
    assert await planned_addresses(newsroom, "s1") == {("telegram", "1"), ("email", "opted@example.org")}


async def test_planning_twice_queues_nobody_twice(newsroom: Newsroom) -> None:
    await add_reader(newsroom, "north-korea", telegram_chat="1")
    s = story("north-korea")
    await plan(newsroom, s)
    now = datetime.now(UTC)
    async with newsroom.engine.begin() as conn:
        assert await deliveries_store.plan_story_deliveries(conn, s, now) == 0
        assert await deliveries_store.count_story_deliveries(conn, s.id) == {"telegram": 1, "email": 0}


async def test_planning_is_one_insert_select_statement_not_a_loop(newsroom: Newsroom) -> None:
    for chat in range(50):
        await add_reader(newsroom, "north-korea", telegram_chat=str(1000 + chat))
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    s = story("north-korea")
    async with newsroom.engine.begin() as conn:
        await stories.save_story(conn, s, datetime.now(UTC))
    event.listen(newsroom.engine.sync_engine, "before_cursor_execute", record)
    try:
        async with newsroom.engine.begin() as conn:
            assert await deliveries_store.plan_story_deliveries(conn, s, datetime.now(UTC)) == 50
    finally:
        event.remove(newsroom.engine.sync_engine, "before_cursor_execute", record)
    inserts = [s for s in statements if "INSERT" in s.upper()]
    assert len(inserts) == 1
    assert "SELECT" in inserts[0].upper() and "ON CONFLICT DO NOTHING" in inserts[0].upper()


async def test_a_story_without_topics_is_planned_for_nobody(newsroom: Newsroom) -> None:
    await add_reader(newsroom, "north-korea", telegram_chat="1")
    assert await plan(newsroom, story()) == {"telegram": 0, "email": 0}


@pytest.mark.parametrize("channel", ["telegram", "email"])
async def test_claiming_skips_nothing_and_returns_inactive_addresses_for_cancelling(
    newsroom: Newsroom, channel: str
) -> None:
    reader = await add_reader(
        newsroom,
        "north-korea",
        telegram_chat="1" if channel == "telegram" else None,
        email="a@example.org" if channel == "email" else None,
        cadences={ChannelName(channel): Cadence.INSTANT},
    )
    await plan(newsroom, story("north-korea"))
    async with newsroom.engine.begin() as conn:
        await conn.execute(addresses.update().where(addresses.c.subscriber_id == reader).values(status="inactive"))
        claimed = await deliveries_store.claim_due_deliveries(conn, 10, datetime.now(UTC))
    assert len(claimed) == 1 and claimed[0].address is None


async def test_upgrading_a_populated_store_keeps_every_row(tmp_path) -> None:
    """Migrations run with foreign keys on: a careless table rebuild would cascade-delete deliveries."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await upgrade_database(engine, "0001")
        now = datetime.now(UTC)
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO subscribers (id, created_at) VALUES (1, '2026-01-01 00:00:00')"))
            await conn.execute(
                text(
                    "INSERT INTO stories (id, title, body, summary, breaking, created_at) "
                    "VALUES ('s1', 't', 'b', 's', 0, '2026-01-01 00:00:00')"
                )
            )
            await conn.execute(text("INSERT INTO story_topics (story_id, topic, position) VALUES ('s1', 'world', 0)"))
            await conn.execute(
                text(
                    "INSERT INTO deliveries (item_key, story_id, subscriber_id, channel, priority, status, attempts,"
                    " not_before, created_at, updated_at) VALUES ('story:s1', 's1', 1, 'telegram', 10, 'sent', 1,"
                    " :now, :now, :now)"
                ),
                {"now": now.replace(tzinfo=None)},
            )
        assert await upgrade_database(engine) == head_revision()
        async with engine.connect() as conn:
            for table in ("stories", "story_topics", "deliveries"):
                count = (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar()
                assert count == 1, table
    finally:
        await engine.dispose()
