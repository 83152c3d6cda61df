"""Embargoes: a story with publish_at reaches nobody before then, on any channel, by any door; it can be moved or
cancelled until it goes; retries never make it early; the digest counts it in the week it is published."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from bot.app.errors import InvalidSchedule, StoryAlreadySent
from bot.app.newsroom import Newsroom
from bot.cli import app
from bot.outbox.digest_planning import queue_weekly_digests
from bot.outbox.digest_weeks import digest_zone, week_of
from bot.outbox.worker import DeliveryWorker
from bot.stories.embargo import cancel_scheduled_story, reschedule_story, top_up_published
from bot.stories.intake import publish_story
from bot.web import create_app
from subscribers import delivery_retry
from subscribers.schema import Cadence, ChannelName, audit_log, deliveries, stories
from tests.editor_fixtures import API_TOKEN, sample_story
from tests.fakes import FakeBotAPI, SmtpSink
from tests.fakes.clock import ManualClock
from tests.newsroom_fixtures import SAMPLE_STORY, add_reader

INSTANT_EMAIL = {ChannelName.EMAIL: Cadence.INSTANT}
WEEKLY = {ChannelName.TELEGRAM: Cadence.WEEKLY}
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def newsbot(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def cli_env(newsroom: Newsroom) -> dict[str, str]:
    """The CLI on the test's store (its data dir is the working directory's ``data``, as the fixtures set up)."""
    url = newsroom.settings.database_url
    return {"NEWSBOT_DATABASE_URL": url} if url.startswith("postgresql") else {}


async def rows(newsroom: Newsroom) -> list:  # type: ignore[type-arg]
    async with newsroom.reader.connect() as conn:
        return list(await conn.execute(select(deliveries).order_by(deliveries.c.id)))


async def readers_on_both_channels(newsroom: Newsroom) -> None:
    await add_reader(newsroom, "north-korea", telegram_chat="1001")
    await add_reader(newsroom, "north-korea", email="desk@fairview-gazette.example", cadences=INSTANT_EMAIL)


async def test_ingest_at_sends_nothing_before_the_embargo_and_everything_once_after_it(
    live: tuple[Newsroom, DeliveryWorker], bot_api: FakeBotAPI, smtp_sink: SmtpSink
) -> None:
    newsroom, live_worker = live
    clock = ManualClock()
    worker = DeliveryWorker(newsroom, live_worker.channels, clock=clock)
    await readers_on_both_channels(newsroom)
    # Two hours ahead, rounded up to a whole minute: the CLI takes whole minutes, and rounding down could put the
    # embargo inside the 1 h 59 min the test then waits.
    later = (clock.now() + timedelta(hours=2)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    at = later.astimezone().isoformat(timespec="minutes")

    result = await asyncio.to_thread(newsbot, "ingest", str(SAMPLE_STORY), "--at", at, env=cli_env(newsroom))
    assert result.exit_code == 0, result.output
    assert f"goes out: {datetime.fromisoformat(at).isoformat()}" in result.output

    report = await worker.drain(wait_for_retries=0)
    assert report.total == 0 and bot_api.sent_messages == [] and smtp_sink.messages == []
    assert {row.status for row in await rows(newsroom)} == {"pending"}

    clock.advance(hours=1, minutes=59)
    assert (await worker.drain(wait_for_retries=0)).total == 0 and bot_api.sent_messages == []

    clock.advance(minutes=2)
    report = await worker.drain(wait_for_retries=0)
    assert report.sent == {"telegram": 1, "email": 1}
    assert [m.chat_id for m in bot_api.sent_messages] == [1001]
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["desk@fairview-gazette.example"]]
    assert (await worker.drain(wait_for_retries=0)).total == 0  # once


async def test_a_naive_or_malformed_time_is_refused_in_one_line_and_nothing_is_stored(
    newsroom: Newsroom,
) -> None:
    for value, expected in (("2026-12-02T06:00", "has no UTC offset"), ("tomorrow", "not an ISO 8601")):
        result = await asyncio.to_thread(newsbot, "ingest", str(SAMPLE_STORY), "--at", value, env=cli_env(newsroom))
        assert result.exit_code == 1
        assert result.stderr.count("\n") == 1 and expected in result.stderr
    async with newsroom.reader.connect() as conn:
        assert list(await conn.execute(select(stories.c.id))) == []


async def test_the_api_field_holds_the_story_and_answers_when_it_goes(newsroom: Newsroom) -> None:
    live = dataclasses.replace(newsroom, settings=newsroom.settings.model_copy(update={"api_token": API_TOKEN}))
    await add_reader(newsroom, "north-korea", telegram_chat="1001")
    body = SAMPLE_STORY.read_text(encoding="utf-8")
    transport = httpx.ASGITransport(app=create_app(live))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        naive = await http.post("/api/stories", json={"body": body, "publish_at": "2026-12-02T06:00"}, headers=AUTH)
        assert naive.status_code == 422 and naive.json()["detail"][0]["loc"] == ["body", "publish_at"]
        at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
        answer = await http.post("/api/stories", json={"body": body, "publish_at": at.isoformat()}, headers=AUTH)
        assert answer.status_code == 201
        assert datetime.fromisoformat(answer.json()["publish_at"]) == at
        shown = (await http.get(f"/api/stories/{answer.json()['id']}", headers=AUTH)).json()
        assert datetime.fromisoformat(shown["publish_at"]) == at and shown["retracted_at"] is None
    assert [row.not_before for row in await rows(newsroom)] == [at]


async def test_front_matter_publish_at_holds_the_story_and_a_past_one_means_now(
    newsroom: Newsroom, tmp_path: Path
) -> None:
    await add_reader(newsroom, "north-korea", telegram_chat="1001")
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    text = SAMPLE_STORY.read_text(encoding="utf-8")
    future = tmp_path / "future.md"
    future.write_text(f"---\nid: later\npublish_at: {later.isoformat()}\n---\n{text}", encoding="utf-8")
    past = tmp_path / "past.md"
    past.write_text(f"---\nid: earlier\npublish_at: 2020-01-01T06:00+01:00\n---\n{text}", encoding="utf-8")
    for path in (future, past):
        await publish_story(newsroom, sample_story(newsroom, path), actor="cli")
    async with newsroom.reader.connect() as conn:
        held = dict(list(await conn.execute(select(stories.c.id, stories.c.publish_at))))
        audit = [json.loads(row.details) for row in await conn.execute(select(audit_log.c.details))]
    assert held == {"later": later, "earlier": None}
    assert [entry["publish_at"] for entry in audit] == [later.isoformat(), None]
    by_story = {row.story_id: row.not_before for row in await rows(newsroom)}
    assert by_story["later"] == later and by_story["earlier"] <= datetime.now(UTC)


async def test_an_embargo_can_be_moved_or_cancelled_until_it_goes_and_never_after(
    newsroom: Newsroom, tmp_path: Path
) -> None:
    await add_reader(newsroom, "north-korea", telegram_chat="1001")
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    story = dataclasses.replace(sample_story(newsroom), publish_at=at)
    await publish_story(newsroom, story, actor="cli")
    later = at + timedelta(days=1)

    moved = await asyncio.to_thread(
        newsbot, "schedule", story.id, "--at", later.isoformat(), "--json", env=cli_env(newsroom)
    )
    assert moved.exit_code == 0, moved.output
    answer = json.loads(moved.stdout)
    assert answer["deliveries"] == {"telegram": 1, "email": 0}
    assert datetime.fromisoformat(answer["publish_at"]) == later
    assert [row.not_before for row in await rows(newsroom)] == [later]

    cancelled = await cancel_scheduled_story(newsroom, story.id, actor="cli")
    assert cancelled.cancelled and cancelled.deliveries["telegram"] == 1
    assert [(row.status, row.last_error) for row in await rows(newsroom)] == [
        ("cancelled", "its scheduled publication was cancelled")
    ]
    with pytest.raises(StoryAlreadySent, match="withdrawn"):
        await reschedule_story(newsroom, story.id, later, actor="cli")
    async with newsroom.reader.connect() as conn:
        actions = [row.action for row in await conn.execute(select(audit_log.c.action).order_by(audit_log.c.id))]
        kept = (await conn.execute(select(stories.c.id, stories.c.retracted_at))).one()
    assert actions == ["story", "schedule", "schedule.cancel"] and kept.retracted_at is not None

    # A story that went out at once has no schedule to change.
    other = dataclasses.replace(sample_story(newsroom), id="at-once")
    await publish_story(newsroom, other, actor="cli")
    refused = await asyncio.to_thread(newsbot, "schedule", "at-once", "--cancel", env=cli_env(newsroom))
    assert refused.exit_code == 1 and "already went out" in refused.stderr
    with pytest.raises(InvalidSchedule):
        await reschedule_story(newsroom, "at-once", datetime(2030, 1, 1), actor="cli")
    unknown = await asyncio.to_thread(newsbot, "schedule", "nope", "--at", later.isoformat(), env=cli_env(newsroom))
    assert unknown.exit_code == 1 and "no story with id 'nope'" in unknown.stderr


async def test_moving_an_embargo_into_the_past_sends_it_now(
    live: tuple[Newsroom, DeliveryWorker], bot_api: FakeBotAPI
) -> None:
    newsroom, worker = live
    await add_reader(newsroom, "north-korea", telegram_chat="1001")
    story = dataclasses.replace(sample_story(newsroom), publish_at=datetime.now(UTC) + timedelta(days=2))
    await publish_story(newsroom, story, actor="cli")
    assert (await worker.drain(wait_for_retries=0)).total == 0
    report = await reschedule_story(newsroom, story.id, datetime(2020, 1, 1, tzinfo=UTC), actor="cli")
    assert report.publish_at is not None and report.publish_at <= datetime.now(UTC)
    assert (await worker.drain(wait_for_retries=0)).sent == {"telegram": 1}
    assert [m.chat_id for m in bot_api.sent_messages] == [1001]


async def test_retry_never_makes_an_embargoed_delivery_due_early(newsroom: Newsroom) -> None:
    await add_reader(newsroom, "north-korea", telegram_chat="1001")
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=5)
    await publish_story(newsroom, dataclasses.replace(sample_story(newsroom), publish_at=at), actor="cli")
    async with newsroom.engine.begin() as conn:
        assert await delivery_retry.retry_deliveries(conn, datetime.now(UTC)) == {}
    result = await asyncio.to_thread(newsbot, "retry", env=cli_env(newsroom))
    assert result.exit_code == 0, result.output
    assert [(row.status, row.not_before) for row in await rows(newsroom)] == [("pending", at)]


async def test_the_digest_leaves_an_embargoed_story_out_until_the_week_it_is_published(newsroom: Newsroom) -> None:
    clock = ManualClock()
    newsroom.clock = clock
    await add_reader(newsroom, "north-korea", telegram_chat="1001", cadences=WEEKLY)
    zone = digest_zone(newsroom.settings)
    this_week = week_of(clock.now(), zone)
    at = this_week.end + timedelta(days=2)  # in the next week
    await publish_story(newsroom, dataclasses.replace(sample_story(newsroom), publish_at=at), actor="cli")

    clock.advance(seconds=(this_week.end - clock.now()).total_seconds() + 60)
    now_week = await queue_weekly_digests(newsroom, this_week.key, clock=clock)
    assert now_week.stories == 0 and now_week.total == 0
    next_week = week_of(at, zone)
    clock.advance(days=8)
    published = await queue_weekly_digests(newsroom, next_week.key, clock=clock)
    assert published.stories == 1 and published.queued == {"telegram": 1, "email": 0}


async def test_readers_who_follow_before_the_embargo_lifts_are_topped_up_once(newsroom: Newsroom) -> None:
    await add_reader(newsroom, "north-korea", telegram_chat="1001")
    at = datetime.now(UTC) + timedelta(hours=1)
    story = dataclasses.replace(sample_story(newsroom), publish_at=at)
    assert (await publish_story(newsroom, story, actor="cli")).recipients["telegram"] == 1
    await add_reader(newsroom, "north-korea", telegram_chat="1002")  # follows while it waits
    assert await top_up_published(newsroom, at - timedelta(hours=2), at - timedelta(minutes=1)) == 0
    assert await top_up_published(newsroom, at - timedelta(minutes=1), at + timedelta(seconds=1)) == 1
    assert await top_up_published(newsroom, at - timedelta(minutes=1), at + timedelta(seconds=1)) == 0
    assert sorted(row.subscriber_id for row in await rows(newsroom)) == [1, 2]
