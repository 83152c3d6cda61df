"""The signing secret kept in the store when NEWSBOT_SECRET_KEY is unset: random, made once, shared, lasting."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app.config import Settings
from bot.app.errors import InvalidToken
from bot.app.newsroom import Newsroom
from bot.rendering.signed_links import LinkSigner
from subscribers.database import create_engine
from subscribers.migrate import upgrade_database
from subscribers.schema import store_secrets
from subscribers.store_secret import SIGNING_KEY, secret_from_store


def without_key(settings: Settings) -> Settings:
    return settings.model_copy(update={"secret_key": ""})


async def test_without_a_key_the_first_open_makes_a_random_secret_that_every_later_open_reads(
    settings: Settings,
) -> None:
    async with await Newsroom.open(without_key(settings)) as first:
        secret = first.secret
        token = first.signer.token("unsubscribe", 7)
    assert secret.source == "store" and len(secret.value) >= 43
    assert secret.value not in repr(secret) and "store" in secret.description
    async with await Newsroom.open(without_key(settings)) as restarted:  # a restart, another process or machine
        assert restarted.secret.value == secret.value
        assert restarted.signer.verify("unsubscribe", token) == {"subscriber_id": 7}


async def test_processes_starting_together_agree_on_one_secret(settings: Settings) -> None:
    setup = create_engine(settings.database_url)
    await upgrade_database(setup)
    engines = [create_engine(settings.database_url) for _ in range(6)]
    try:
        made = await asyncio.gather(*(secret_from_store(engine) for engine in engines))
        async with setup.connect() as conn:
            rows = (await conn.execute(select(func.count()).select_from(store_secrets))).scalar_one()
    finally:
        for engine in (setup, *engines):
            await engine.dispose()
    assert len(set(made)) == 1 and rows == 1


async def test_two_stores_get_different_secrets(settings: Settings, tmp_path: Path) -> None:
    other = settings.model_copy(update={"database_url": f"sqlite+aiosqlite:///{tmp_path / 'other.sqlite3'}"})
    async with await Newsroom.open(without_key(settings)) as one, await Newsroom.open(without_key(other)) as two:
        assert one.secret.value != two.secret.value
        signed_elsewhere = two.signer.token("preferences", 1)
        with pytest.raises(InvalidToken, match="not valid"):
            one.signer.verify("preferences", signed_elsewhere)


async def test_an_explicit_key_wins_and_the_store_makes_none(settings: Settings) -> None:
    assert settings.secret_key  # the test settings set one
    async with await Newsroom.open(settings) as newsroom, newsroom.engine.connect() as conn:
        assert newsroom.secret.source == "environment" and newsroom.secret.value == settings.secret_key
        assert "NEWSBOT_SECRET_KEY" in newsroom.secret.description
        token = LinkSigner(settings.secret_key, settings.public_url).token("unsubscribe", 3)
        assert newsroom.signer.verify("unsubscribe", token) == {"subscriber_id": 3}
        made = (await conn.execute(select(store_secrets.c.name).where(store_secrets.c.name == SIGNING_KEY))).all()
    assert made == []
