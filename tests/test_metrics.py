"""GET /metrics over real ASGI calls: off by default, open with NEWSBOT_METRICS=1, behind the API token when one is
set, and the text (parsed with prometheus-client's own parser) counts a delivery sent through the fake Bot API."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bot.app.newsroom import Newsroom
from bot.outbox.worker import DeliveryWorker
from bot.stories.intake import ingest_story, prepare_story
from bot.stories.parsing import read_story_file
from bot.web import create_app
from subscribers import channel_health
from tests.fakes import FakeBotAPI
from tests.newsroom_fixtures import SAMPLE_STORY, add_reader

TOKEN = "metrics-test-token-of-some-length"


async def scrape(newsroom: Newsroom, **headers: str) -> httpx.Response:
    app = create_app(newsroom)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
        return await client.get("/metrics", headers=headers)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample by name and labels, as Prometheus would read the text."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def configure(newsroom: Newsroom, **settings: object) -> Newsroom:
    newsroom.settings = newsroom.settings.model_copy(update=settings)
    return newsroom


async def test_metrics_are_off_by_default(newsroom: Newsroom) -> None:
    answer = await scrape(newsroom)
    assert answer.status_code == 404
    assert "NEWSBOT_METRICS=1" in answer.json()["detail"]


async def test_metrics_setting_serves_the_store_and_loop_series(newsroom: Newsroom) -> None:
    answer = await scrape(configure(newsroom, metrics=True))

    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    found = samples(answer.text)
    assert found["newsbot_store_up", ()] == 1
    assert found["newsbot_workers_alive", ()] == 0
    assert found["newsbot_queue_depth", (("priority", "breaking"),)] == 0
    assert found["newsbot_channel_reachable", (("channel", "telegram"),)] == 1
    assert ("newsbot_event_loop_lag_max_seconds", ()) in found
    assert ("newsbot_event_loop_lag_seconds_count", ()) in found


async def test_with_an_api_token_metrics_need_it_as_a_bearer_token(newsroom: Newsroom) -> None:
    configure(newsroom, api_token=TOKEN, metrics=True)

    missing = await scrape(newsroom)
    wrong = await scrape(newsroom, authorization="Bearer not-the-token")
    right = await scrape(newsroom, authorization=f"Bearer {TOKEN}")

    for refused in (missing, wrong):
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["detail"] == "/metrics needs the API token: missing or wrong bearer token"
    assert right.status_code == 200 and samples(right.text)["newsbot_store_up", ()] == 1


async def test_a_telegram_send_is_counted_and_the_queue_and_health_come_from_the_store(
    live: tuple[Newsroom, DeliveryWorker], bot_api: FakeBotAPI
) -> None:
    newsroom, worker = live
    configure(newsroom, metrics=True)
    await add_reader(newsroom, "north-korea", telegram_chat="101")
    await add_reader(newsroom, "north-korea", telegram_chat="102")
    story = prepare_story(
        read_story_file(SAMPLE_STORY, newsroom.settings.max_story_bytes),
        settings=newsroom.settings,
        taxonomy=newsroom.taxonomy,
        tagger=newsroom.tagger,
    )
    sent = ("newsbot_deliveries_total", (("channel", "telegram"), ("status", "sent")))
    before = samples((await scrape(newsroom)).text)
    await ingest_story(newsroom, story)
    queued = samples((await scrape(newsroom)).text)

    assert (await worker.drain()).sent == {"telegram": 2} and len(bot_api.sent_messages) == 2
    async with newsroom.engine.begin() as conn:
        await channel_health.record_unreachable(conn, "email", "relay refused", newsroom.clock.now(), probe=False)
    after = samples((await scrape(newsroom)).text)

    assert queued["newsbot_queue_depth", (("priority", "normal"),)] == 2
    assert after["newsbot_queue_depth", (("priority", "normal"),)] == 0
    assert after[sent] - before.get(sent, 0) == 2
    assert after["newsbot_channel_reachable", (("channel", "email"),)] == 0
    assert after["newsbot_channel_paused", (("channel", "email"),)] == 1
    assert after["newsbot_channel_reachable", (("channel", "telegram"),)] == 1
