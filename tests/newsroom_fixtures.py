"""Fixtures for the application itself: settings on a temporary data dir, an opened newsroom, sample readers."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app.config import Settings
from bot.app.newsroom import Newsroom
from bot.channels import CHANNEL_NAMES, Channel, build_channels
from bot.channels.telegram import TelegramChannel
from bot.channels.telegram_rate_limit import TelegramRateLimiter
from bot.outbox.worker import DeliveryWorker
from subscribers import readers
from subscribers.database import create_engine
from subscribers.migrate import upgrade_database
from subscribers.preferences import build_subscriber
from subscribers.schema import Cadence, ChannelName
from tests import postgres_databases
from tests.fakes import FakeBotAPI, SmtpSink
from tests.fakes.clock import ManualMonotonic

REPO = Path(__file__).resolve().parent.parent
SAMPLE_STORY = REPO / "examples" / "stories" / "north-korea.txt"


def use_embedded_defaults(directory: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in *directory* with no NEWSBOT_* variables and no .env: what a fresh machine sees."""
    for name in list(os.environ):
        if name.startswith("NEWSBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(directory)
    return directory


def seed_migrated_store(data_dir: Path, migrated_sqlite: Path) -> Path:
    """Start the SQLite store in *data_dir* as a copy of the migrated template, unless one is there already.

    What every start-up after a machine's first finds; copying costs a fraction of migrating (the first run on an
    empty machine is what the tests that skip this fixture cover).
    """
    store = data_dir / "newsbot.sqlite3"
    if not store.exists():
        store.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(migrated_sqlite, store)
    return store


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade_database(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store migrated once per run (per xdist worker): copying it is a tenth of the cost of migrating."""
    path = tmp_path_factory.mktemp("template") / "newsbot.sqlite3"
    asyncio.run(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every store test runs on SQLite, and on a scratch PostgreSQL database when one is configured."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'data' / 'newsbot.sqlite3'}"
        return
    if not postgres_databases.POSTGRES_URL:
        pytest.skip(postgres_databases.SKIP_REASON)
    with postgres_databases.scratch_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store with no tables yet (to migrate step by step), on SQLite and (when configured) on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}"
        return
    if not postgres_databases.POSTGRES_URL:
        pytest.skip(postgres_databases.SKIP_REASON)
    with postgres_databases.empty_database() as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str, migrated_sqlite: Path) -> Settings:
    """Settings on a fresh data dir, ignoring any NEWSBOT_* variables or .env of the machine running the tests.

    Its SQLite store starts as a copy of the migrated template, as the PostgreSQL one is cloned from one: opening
    the newsroom then only checks the revision (what every test after the first start-up does anyway).
    """
    use_embedded_defaults(tmp_path, monkeypatch)
    if database_url == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'newsbot.sqlite3'}":
        seed_migrated_store(tmp_path / "data", migrated_sqlite)
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        secret_key="test-secret-of-at-least-32-characters",
        public_url="https://news.example.org",
        mail_from="Fairview Gazette <newsletter@fairview-gazette.example>",
    )


def paced_channels(settings: Settings, *, only: Iterable[str] = CHANNEL_NAMES) -> dict[str, Channel]:
    """`build_channels`, with a live Telegram channel's limits held on a clock that every wait moves at once.

    The limits hold as in production, but an edit of a message just sent waits out its chat's second without
    taking one; tests/test_rate_limits.py times the limiter itself.
    """
    names = tuple(only)
    paced = "telegram" in names and bool(settings.telegram_token)
    channels = build_channels(settings, only=[name for name in names if not (paced and name == "telegram")])
    if paced:
        pace = ManualMonotonic()
        limiter = TelegramRateLimiter(settings.telegram_messages_per_second, clock=pace, sleep=pace.sleep)
        channels["telegram"] = TelegramChannel.from_settings(settings, rate_limiter=limiter)
    return {name: channels[name] for name in names}


@pytest.fixture
async def newsroom(settings: Settings) -> AsyncIterator[Newsroom]:
    room = await Newsroom.open(settings)
    try:
        yield room
    finally:
        await room.close()


@pytest.fixture
async def live(
    settings: Settings, bot_api: FakeBotAPI, smtp_sink: SmtpSink
) -> AsyncIterator[tuple[Newsroom, DeliveryWorker]]:
    """A newsroom whose channels are live: Telegram through the fake Bot API, email through aiosmtpd."""
    live_settings = settings.model_copy(
        update={"telegram_token": "123456:TEST", "telegram_api_url": bot_api.base_url, "smtp_url": smtp_sink.url}
    )
    room = await Newsroom.open(live_settings)
    channels = paced_channels(live_settings)
    try:
        yield room, DeliveryWorker(room, channels)
    finally:
        for channel in channels.values():
            await channel.aclose()
        await room.close()


async def add_reader(
    newsroom: Newsroom,
    *topics: str,
    telegram_chat: str | None = None,
    email: str | None = None,
    confirmed: bool = True,
    cadences: dict[ChannelName, Cadence] | None = None,
) -> int:
    """Add one reader and return their subscriber id."""
    subscriber = build_subscriber(
        newsroom.taxonomy,
        telegram_chat=telegram_chat,
        email=email,
        topics=topics,
        confirmed=confirmed,
        cadences=cadences,
    )
    async with newsroom.engine.begin() as conn:
        await readers.add_subscribers(conn, [subscriber], datetime.now(UTC))
        first = subscriber.addresses[0]
        found = await readers.find_subscriber_ids(conn, [(first.channel.value, first.address)])
    return found[(first.channel.value, first.address)]
