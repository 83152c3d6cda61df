"""Social distribution: the outlet's Telegram channel (fake Bot API) and another network (Apprise json:// to a
local webhook) each get one post per story, within their length limit, retried when they fail."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app.config import Settings
from bot.app.errors import ConfigurationError
from bot.app.newsroom import Newsroom
from bot.channels.telegram import TelegramChannel
from bot.outbox.social import SocialPoster
from bot.outbox.worker import DeliveryWorker
from bot.rendering.social_posts import compose_post
from bot.stories.intake import publish_story
from bot.topics.distribution import Distribution, apprise_destination
from bot.topics.taxonomy import DEFAULT_TOPICS_FILE, Taxonomy
from subscribers import social_post_claims
from subscribers import social_posts as social_posts_store
from subscribers import workers as workers_store
from subscribers.schema import social_posts, workers
from tests.editor_fixtures import OUTLET_CHANNEL, sample_story, write_distribution
from tests.fakes import FakeBotAPI
from tests.fakes.clock import ManualClock
from tests.fakes.http_endpoints import Webhook
from tests.newsroom_fixtures import add_reader

LINK = "https://fairview-gazette.example/north-korea-talks"


@pytest.fixture
async def telegram(desk_settings: Settings) -> AsyncIterator[TelegramChannel]:
    channel = TelegramChannel.from_settings(desk_settings)
    try:
        yield channel
    finally:
        await channel.aclose()


async def post_rows(newsroom: Newsroom) -> list:
    async with newsroom.engine.connect() as conn:
        return list(await conn.execute(select(social_posts).order_by(social_posts.c.id)))


async def test_a_story_is_queued_once_per_destination_of_its_topics(desk: Newsroom) -> None:
    story = sample_story(desk)
    first = await publish_story(desk, story, actor="test")
    again = await publish_story(desk, story, actor="test")
    labels = [d.label for d in first.social]
    assert labels[0] == f"Telegram {OUTLET_CHANNEL}" and labels[1].startswith("json://127.0.0.1:")
    assert again.created is False and again.social == []
    rows = await post_rows(desk)
    assert [(r.destination.split(":")[0], r.status) for r in rows] == [("telegram", "pending"), ("apprise", "pending")]


async def test_the_channel_gets_the_reader_message_and_the_webhook_a_post_with_the_link(
    desk: Newsroom, telegram: TelegramChannel, bot_api: FakeBotAPI, webhook: Webhook
) -> None:
    story = dataclasses.replace(sample_story(desk), url=LINK)
    await publish_story(desk, story, actor="test")

    report = await SocialPoster(desk, telegram).drain()

    assert report.sent == 2 and report.failed == report.retrying == 0
    assert bot_api.sent_to(OUTLET_CHANNEL) == [desk.renderer.telegram_message(story)]
    (post,) = webhook.posts
    assert post["title"] == story.title
    assert post["message"].startswith(story.summary[:40]) and LINK in post["message"]
    assert {r.status for r in await post_rows(desk)} == {"sent"}
    assert await SocialPoster(desk, telegram).drain() == type(report)()  # nothing is posted twice


async def test_a_failing_network_is_retried_with_backoff_while_the_others_are_posted(
    desk: Newsroom, telegram: TelegramChannel, bot_api: FakeBotAPI, webhook: Webhook
) -> None:
    await publish_story(desk, sample_story(desk), actor="test")
    webhook.fail_next(1)
    clock = ManualClock()
    poster = SocialPoster(desk, telegram, clock=clock)

    first = await poster.drain()
    assert (first.sent, first.retrying) == (1, 1)
    assert len(bot_api.sent_to(OUTLET_CHANNEL)) == 1 and webhook.posts == []
    failing = next(r for r in await post_rows(desk) if r.destination.startswith("apprise:"))
    assert failing.status == "pending" and failing.attempts == 1 and "500" in (failing.last_error or "")
    assert failing.not_before > clock.now()

    assert (await poster.drain()).retrying == 0 and webhook.posts == []  # not due yet: nothing is tried
    clock.advance(minutes=2)
    second = await poster.drain()
    assert second.sent == 1 and len(webhook.posts) == 1
    assert len(bot_api.sent_to(OUTLET_CHANNEL)) == 1


async def test_a_network_that_keeps_failing_is_given_up_after_max_attempts(
    desk: Newsroom, telegram: TelegramChannel, webhook: Webhook
) -> None:
    desk.settings = desk.settings.model_copy(update={"max_attempts": 2})
    await publish_story(desk, sample_story(desk), actor="test")
    webhook.fail_next(5)
    clock = ManualClock()
    poster = SocialPoster(desk, telegram, clock=clock)
    assert (await poster.drain()).retrying == 1
    clock.advance(hours=2)
    assert (await poster.drain()).failed == 1
    failed = [r for r in await post_rows(desk) if r.status == "failed"]
    assert len(failed) == 1 and failed[0].attempts == 2


def test_mastodon_gets_at_most_500_characters_and_keeps_the_link(newsroom: Newsroom) -> None:
    mastodon = apprise_destination("mastodon://access-token@mastodon.example")
    assert mastodon.body_limit == 500 and "access-token" not in mastodon.label + mastodon.key
    story = dataclasses.replace(sample_story(newsroom), url=LINK)
    topics = [newsroom.taxonomy[slug] for slug in story.topics]
    text = compose_post(story, topics, body_limit=mastodon.body_limit, title_limit=mastodon.title_limit)
    assert len(text.body) <= 500
    assert text.body.startswith(story.title) and LINK in text.body
    tiny = compose_post(story, topics, body_limit=len(LINK) + 30)
    assert len(tiny.body) <= len(LINK) + 30 and tiny.body.endswith(LINK)


def test_distribution_can_live_in_the_topics_file(tmp_path: Path) -> None:
    topics = tmp_path / "topics.toml"
    topics.write_text(
        DEFAULT_TOPICS_FILE.read_text(encoding="utf-8").replace(
            'slug = "sports"', 'slug = "sports"\ntelegram_channels = ["@fairview_sports"]', 1
        ),
        encoding="utf-8",
    )
    taxonomy = Taxonomy.load(topics)
    distribution = Distribution.load(Settings(topics_file=topics), taxonomy)
    assert [d.key for d in distribution.by_topic["sports"]] == ["telegram:@fairview_sports"]
    assert set(distribution.by_topic) == {"sports"}


def test_a_distribution_naming_an_unknown_topic_or_a_bad_url_is_refused(tmp_path: Path) -> None:
    taxonomy = Taxonomy.load()
    with pytest.raises(ConfigurationError, match=r"unknown topic 'north-koreaa' \(did you mean north-korea\?\)"):
        Distribution.from_toml(
            write_distribution(tmp_path / "a.toml", "json://127.0.0.1/x", topic="north-koreaa"), taxonomy
        )
    with pytest.raises(ConfigurationError, match="nosuchservice:// URL is not one Apprise understands"):
        Distribution.from_toml(write_distribution(tmp_path / "b.toml", "nosuchservice://x"), taxonomy)


async def test_a_network_that_is_down_never_holds_up_readers(
    desk: Newsroom, telegram: TelegramChannel, bot_api: FakeBotAPI, tmp_path: Path
) -> None:
    unreachable = write_distribution(tmp_path / "down.toml", "json://127.0.0.1:9/hook")  # nothing listens there
    distribution = Distribution.from_toml(unreachable, desk.taxonomy)
    await add_reader(desk, "north-korea", telegram_chat="101")
    await publish_story(desk, sample_story(desk), actor="test", distribution=distribution)

    readers = await DeliveryWorker(desk, {"telegram": telegram}).drain()
    posting = await SocialPoster(desk, telegram, distribution).drain()

    assert readers.sent == {"telegram": 1} and len(bot_api.sent_to(101)) == 1
    assert (posting.sent, posting.retrying) == (1, 1)  # the channel post went out; the webhook waits for a retry


async def test_a_post_left_sending_by_a_dead_worker_is_sent_later_but_a_live_ones_is_left_alone(
    desk: Newsroom, telegram: TelegramChannel, bot_api: FakeBotAPI, webhook: Webhook
) -> None:
    await publish_story(desk, sample_story(desk), actor="test")
    clock = ManualClock()
    now = clock.now()
    async with desk.engine.begin() as conn:  # two workers claimed one post each; one of them went silent
        await workers_store.register_worker(conn, "elsewhere-dead", "another-host", 1, now)
        await workers_store.register_worker(conn, "elsewhere-alive", "another-host", 1, now)
        first, second = await social_posts_store.claim_due_social_posts(conn, 2, now)
        await social_post_claims.hold_social_posts(conn, [first.id], "elsewhere-dead")
        await social_post_claims.hold_social_posts(conn, [second.id], "elsewhere-alive")
    clock.advance(seconds=desk.settings.delivery_lease_seconds + 1)
    async with desk.engine.begin() as conn:
        await workers_store.heartbeat_worker(conn, "elsewhere-alive", clock.now(), timedelta(minutes=1))
    poster = SocialPoster(desk, telegram, clock=clock)
    assert (await poster.drain()).sent == 1  # the dead worker's; the other is still the live worker's
    assert [r.status for r in await post_rows(desk)] == ["sent", "sending"]


async def test_a_post_left_sending_by_a_dead_poster_on_this_host_is_sent_at_once(
    desk: Newsroom, telegram: TelegramChannel, bot_api: FakeBotAPI, webhook: Webhook
) -> None:
    await publish_story(desk, sample_story(desk), actor="test")
    dead = SocialPoster(desk, telegram)
    await dead.lease.recover()  # registered from this host, with a process id that no longer exists
    async with desk.engine.begin() as conn:
        await conn.execute(workers.update().where(workers.c.id == dead.lease.worker_id).values(pid=2**22 + 1))
        claimed = await social_posts_store.claim_due_social_posts(conn, 2, datetime.now(UTC))
        await social_post_claims.hold_social_posts(conn, [post.id for post in claimed], dead.lease.worker_id)
    assert (await SocialPoster(desk, telegram).drain()).sent == 2
    assert {r.status for r in await post_rows(desk)} == {"sent"}


async def test_a_poster_beside_the_worker_shares_its_registration(desk: Newsroom, telegram: TelegramChannel) -> None:
    await publish_story(desk, sample_story(desk), actor="test")
    worker = DeliveryWorker(desk, {"telegram": telegram})
    poster = SocialPoster(desk, telegram, lease=worker.lease)

    async def registered() -> list[str]:
        async with desk.reader.connect() as conn:
            return [row.id for row in await conn.execute(select(workers.c.id))]

    async with worker.on_duty():
        assert (await poster.drain()).sent == 2
        assert await registered() == [worker.worker_id]  # one registration, still held by the worker
    assert await registered() == []


async def test_the_outlets_channel_reads_the_outlets_language(
    desk: Newsroom, telegram: TelegramChannel, bot_api: FakeBotAPI, webhook: Webhook
) -> None:
    desk.settings = desk.settings.model_copy(update={"default_language": "de"})
    story = dataclasses.replace(sample_story(desk), url=LINK, breaking=True)
    await publish_story(desk, story, actor="test")

    assert (await SocialPoster(desk, telegram).drain()).sent == 2

    (text,) = bot_api.sent_to(OUTLET_CHANNEL)
    assert text == desk.renderer.telegram_message(story, language="de") and "EILMELDUNG" in text
    assert story.title in text  # the story itself as the outlet wrote it
    (call,) = [c for c in bot_api.calls_to("sendMessage") if str(c.get("chat_id")) == OUTLET_CHANNEL]
    assert "Weiterlesen" in str(call["reply_markup"]) and "Read more" not in str(call["reply_markup"])
