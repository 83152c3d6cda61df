"""SIGKILL during a correction's edit fan-out loses no edit: `newsbot deliver` is killed while the edits of 800
Telegram copies go out, started again, and every copy ends up edited, on the message id its send returned; edits
sent twice (at most the in-flight bound) are answered "not modified", a success."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app.config import Settings
from bot.app.newsroom import Newsroom
from bot.channels import build_channels, close_channels
from bot.outbox.worker import MAX_UNRECORDED, DeliveryWorker
from bot.stories.corrections import correct_story
from bot.stories.parsing import read_story_file
from subscribers.schema import deliveries
from tests.fakes import FakeBotAPI
from tests.newsroom_fixtures import SAMPLE_STORY, use_embedded_defaults
from tests.test_crash_recovery import (
    FIRST_CHAT,
    ROUND_TRIP,
    SECRET,
    deliver_env,
    finish_the_job,
    plan_fan_out,
    start_deliver,
    statuses,
    wait_until,
)


async def test_sigkill_mid_edit_fan_out_then_restart_edits_every_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readers = 800  # killed at 537: in the third batch of 200, with more batches left for the restart
    use_embedded_defaults(tmp_path, monkeypatch)
    async with FakeBotAPI() as api:
        env = deliver_env(tmp_path, api)
        settings = Settings(data_dir=tmp_path / "data", secret_key=SECRET)
        await plan_fan_out(settings, readers)
        live = settings.model_copy(
            update={"telegram_token": "123456:TEST", "telegram_api_url": api.base_url, "telegram_paid_broadcast": True}
        )
        async with await Newsroom.open(live) as newsroom:
            # The story reaches everyone first, sent from here: only the edits' fan-out needs a process to kill.
            channels = build_channels(live)
            try:
                await DeliveryWorker(newsroom, channels).drain(wait_for_retries=0)
            finally:
                await close_channels(channels)
            async with newsroom.engine.connect() as conn:
                rows = await conn.execute(select(deliveries.c.story_id, deliveries.c.subscriber_id).limit(1))
                story_id = rows.one().story_id
            draft = read_story_file(SAMPLE_STORY, settings.max_story_bytes)
            report = await correct_story(newsroom, story_id, draft, note="A name was misspelt.", actor="cli")
        assert report.edits == readers

        api.delay("editMessageText", ROUND_TRIP)
        first = await start_deliver(tmp_path, env)
        await wait_until(lambda: len(api.calls_to("editMessageText")) >= 537, first, seconds=60)
        first.send_signal(signal.SIGKILL)
        await first.communicate()
        assert first.returncode == -signal.SIGKILL
        assert 0 < len(api.calls_to("editMessageText")) < readers

        await finish_the_job(tmp_path, env)

    edits = Counter((call["chat_id"], call["message_id"]) for call in api.calls_to("editMessageText"))
    # Each chat got one message, id 1: the edits hit exactly that id, in every chat.
    assert set(edits) == {(FIRST_CHAT + n, 1) for n in range(readers)}
    assert sum(count - 1 for count in edits.values()) <= MAX_UNRECORDED
    assert all("A name was misspelt." in (api.text_of(FIRST_CHAT + n, 1) or "") for n in range(readers))
    assert await statuses(settings) == Counter({"sent": 2 * readers})
