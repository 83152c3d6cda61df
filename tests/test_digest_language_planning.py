"""Digest planning counts only the week's stories in each reader's chosen story languages: a reader with none in
theirs is queued no digest, and neither a dry run nor the count of readers still in their week counts them, where
before they were queued one that the worker then cancelled unsent. A story without a language counts for everyone.
A week with a story in the reader's language is `test_story_language_filter`'s digest test.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from sqlalchemy import select

from bot.app.newsroom import Newsroom
from bot.outbox.digest_planning import queue_weekly_digests
from subscribers import reader_time, stories
from subscribers.reader_time import ReaderTime
from subscribers.schema import deliveries
from tests.email_readers import sample_story
from tests.fakes import FakeBotAPI
from tests.newsroom_fixtures import add_reader
from tests.test_digest import WEEK, WEEKLY_CHAT, day
from tests.test_reader_time import clock_at
from tests.test_story_language_filter import choose

#: A story of the week: when it was stored, its id, title and language (None: stored before stories had one).
WeekStory = tuple[datetime, str, str, str | None]


async def store_week(newsroom: Newsroom, *week: WeekStory) -> None:
    async with newsroom.engine.begin() as conn:
        for when, story_id, title, language in week:
            story = dataclasses.replace(sample_story(newsroom, story_id, title, "local"), language=language)
            assert await stories.save_story(conn, story, when)


async def digest_readers(newsroom: Newsroom) -> set[int]:
    async with newsroom.reader.connect() as conn:
        rows = await conn.execute(select(deliveries.c.subscriber_id).where(deliveries.c.item_key == f"digest:{WEEK}"))
        return set(rows.scalars())


async def test_a_german_only_reader_is_queued_no_digest_in_a_week_of_english_stories(live, bot_api: FakeBotAPI) -> None:
    newsroom, worker = live
    german = await add_reader(newsroom, "local", telegram_chat="731", cadences=WEEKLY_CHAT)
    everything = await add_reader(newsroom, "local", telegram_chat="732", cadences=WEEKLY_CHAT)
    both = await add_reader(newsroom, "local", telegram_chat="733", cadences=WEEKLY_CHAT)
    tokyo = await add_reader(newsroom, "local", telegram_chat="734", cadences=WEEKLY_CHAT)
    await choose(newsroom, german, "de")
    await choose(newsroom, both, "de", "en")
    async with newsroom.engine.begin() as conn:
        assert await reader_time.set_reader_time(conn, tokyo, ReaderTime("Asia/Tokyo"))
    await store_week(
        newsroom,
        (day(0), "budget", "Council passes the 2027 budget", "en"),
        (day(2), "parade", "Parade draws crowds", "en"),
    )

    # Sunday afternoon UTC: Tokyo's week is over, the outlet's is not; the German reader is not waiting for one.
    early = await queue_weekly_digests(
        newsroom, WEEK, dry_run=True, clock=clock_at(datetime(2026, 3, 8, 16, tzinfo=UTC))
    )
    assert (early.queued, early.waiting) == ({"telegram": 1, "email": 0}, {"telegram": 2, "email": 0})

    dry = await queue_weekly_digests(newsroom, WEEK, dry_run=True)
    assert dry.queued == {"telegram": 3, "email": 0}
    report = await queue_weekly_digests(newsroom, WEEK)
    assert report.stories == 2 and report.queued == {"telegram": 3, "email": 0}
    assert await digest_readers(newsroom) == {everything, both, tokyo}

    drained = await worker.drain()
    assert drained.sent == {"telegram": 3} and not drained.cancelled
    assert bot_api.sent_to(731) == []
    assert (await queue_weekly_digests(newsroom, WEEK)).total == 0


async def test_a_story_without_a_language_counts_for_every_reader(live, bot_api: FakeBotAPI) -> None:
    newsroom, worker = live
    german = await add_reader(newsroom, "local", telegram_chat="751", cadences=WEEKLY_CHAT)
    spanish = await add_reader(newsroom, "local", telegram_chat="752", cadences=WEEKLY_CHAT)
    everything = await add_reader(newsroom, "local", telegram_chat="753", cadences=WEEKLY_CHAT)
    await choose(newsroom, german, "de")
    await choose(newsroom, spanish, "es")
    await store_week(
        newsroom,
        (day(0), "budget", "Council passes the 2027 budget", "en"),
        (day(3), "archive", "Library opens its archive", None),
    )

    assert (await queue_weekly_digests(newsroom, WEEK, dry_run=True)).queued == {"telegram": 3, "email": 0}
    assert (await queue_weekly_digests(newsroom, WEEK)).queued == {"telegram": 3, "email": 0}
    assert await digest_readers(newsroom) == {german, spanish, everything}
    drained = await worker.drain()
    assert drained.sent == {"telegram": 3} and not drained.cancelled

    for chat in (751, 752):
        (digest,) = bot_api.sent_to(chat)
        assert "Library opens its archive" in digest and "Council passes" not in digest
    (all_of_it,) = bot_api.sent_to(753)
    assert "Library opens its archive" in all_of_it and "Council passes" in all_of_it
