"""Readers' own time: the weekly digest at the configured local hour in each reader's zone, quiet hours, and DST.

The injectable clock is moved by hand; Telegram goes through python-telegram-bot against the fake Bot API.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app.newsroom import Newsroom
from bot.app.scheduler import DigestPlanner
from bot.outbox.digest_planning import queue_weekly_digests
from bot.outbox.digest_preview import preview_digest
from bot.outbox.digest_weeks import InvalidWeek
from bot.outbox.reader_hours import quiet_hours_end
from bot.outbox.worker import DeliveryWorker
from bot.stories.intake import ingest_story
from subscribers import reader_time
from subscribers.reader_time import ReaderTime
from subscribers.schema import Cadence, ChannelName, deliveries
from tests.email_readers import sample_story, store_story_at
from tests.fakes import FakeBotAPI, SmtpSink
from tests.fakes.clock import ManualClock
from tests.newsroom_fixtures import add_reader

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
WEEKLY_CHAT = {ChannelName.TELEGRAM: Cadence.WEEKLY}
NIGHT = ReaderTime("Europe/Berlin", 22 * 60, 7 * 60)


def clock_at(moment: datetime) -> ManualClock:
    clock = ManualClock()
    clock.offset = moment - datetime.now(UTC)
    return clock


def move_to(clock: ManualClock, moment: datetime) -> None:
    clock.offset = moment - datetime.now(UTC)


async def reader_in(newsroom: Newsroom, chat: str, time: ReaderTime, *, cadences: dict | None = None) -> int:
    subscriber_id = await add_reader(newsroom, "local", telegram_chat=chat, cadences=cadences)
    async with newsroom.engine.begin() as conn:
        assert await reader_time.set_reader_time(conn, subscriber_id, time)
    return subscriber_id


async def digest_due(newsroom: Newsroom, week: str) -> dict[int, datetime]:
    async with newsroom.reader.connect() as conn:
        rows = await conn.execute(
            select(deliveries.c.subscriber_id, deliveries.c.not_before).where(deliveries.c.item_key == f"digest:{week}")
        )
        return {row[0]: row[1] for row in rows}


def titles_in(messages: list[str], *titles: str) -> list[list[str]]:
    """Which of *titles* each message holds."""
    return [[title for title in titles if title in message] for message in messages]


async def test_tokyo_and_new_york_each_get_their_own_weeks_digest_once_at_their_own_monday_seven(
    live: tuple[Newsroom, DeliveryWorker], bot_api: FakeBotAPI
) -> None:
    """The outlet on UTC; planned as `newsbot run` does, with a restart between the two zones, in the week New York
    moves its clocks forward (Sunday 8 March 2026). A story stored Sunday 20:00 UTC is Monday 05:00 in Tokyo: in
    Tokyo's next digest and in New York's current one. Each story reaches each reader once."""
    newsroom, live_worker = live
    tokyo = await reader_in(newsroom, "701", ReaderTime("Asia/Tokyo"), cadences=WEEKLY_CHAT)
    new_york = await reader_in(newsroom, "702", ReaderTime("America/New_York"), cadences=WEEKLY_CHAT)
    await store_story_at(newsroom, datetime(2026, 3, 4, 12, tzinfo=UTC), "bridge", "The bridge reopens", "local")
    await store_story_at(newsroom, datetime(2026, 3, 8, 20, tzinfo=UTC), "late", "Late Sunday vote", "local")
    clock = clock_at(datetime(2026, 3, 9, 0, 0, 30, tzinfo=TOKYO))  # Tokyo's week is over, New York's is not
    newsroom.clock = clock
    planner = DigestPlanner(newsroom, None)
    worker = DeliveryWorker(newsroom, live_worker.channels, clock=clock)

    await planner.plan()
    assert await digest_due(newsroom, "2026-W10") == {tokyo: datetime(2026, 3, 9, 7, tzinfo=TOKYO)}
    move_to(clock, datetime(2026, 3, 9, 6, 59, tzinfo=TOKYO))
    await planner.plan()
    assert (await worker.drain(wait_for_retries=0)).total == 0
    move_to(clock, datetime(2026, 3, 9, 7, 0, 1, tzinfo=TOKYO))
    assert (await worker.drain(wait_for_retries=0)).sent == {"telegram": 1}
    assert bot_api.sent_to(702) == []

    # A restart between the two zones plans everything again: nothing new for Tokyo, New York once its week ends.
    planner, worker = DigestPlanner(newsroom, None), DeliveryWorker(newsroom, live_worker.channels, clock=clock)
    move_to(clock, datetime(2026, 3, 8, 23, 59, tzinfo=NEW_YORK))
    await planner.plan()
    assert list(await digest_due(newsroom, "2026-W10")) == [tokyo]
    move_to(clock, datetime(2026, 3, 9, 0, 0, 30, tzinfo=NEW_YORK))  # already summer time (EDT)
    await planner.plan()
    assert (await digest_due(newsroom, "2026-W10"))[new_york] == datetime(2026, 3, 9, 7, tzinfo=NEW_YORK)
    move_to(clock, datetime(2026, 3, 9, 6, 59, tzinfo=NEW_YORK))
    assert (await worker.drain(wait_for_retries=0)).total == 0
    move_to(clock, datetime(2026, 3, 9, 7, 0, 1, tzinfo=NEW_YORK))
    assert (await worker.drain(wait_for_retries=0)).sent == {"telegram": 1}

    # The next week: the late story reaches Tokyo; New York had it already and gets nothing empty.
    for moment in (datetime(2026, 3, 16, 0, 0, 30, tzinfo=TOKYO), datetime(2026, 3, 16, 0, 0, 30, tzinfo=NEW_YORK)):
        move_to(clock, moment)
        await planner.plan()
    assert await digest_due(newsroom, "2026-W11") == {tokyo: datetime(2026, 3, 16, 7, tzinfo=TOKYO)}
    move_to(clock, datetime(2026, 3, 16, 12, tzinfo=NEW_YORK))
    assert (await worker.drain(wait_for_retries=0)).sent == {"telegram": 1}
    titles = ("The bridge reopens", "Late Sunday vote")
    assert titles_in(bot_api.sent_to(701), *titles) == [["The bridge reopens"], ["Late Sunday vote"]]
    assert titles_in(bot_api.sent_to(702), *titles) == [["The bridge reopens", "Late Sunday vote"]]


async def test_a_week_asked_for_is_queued_where_it_is_over_and_the_others_are_told_to_wait(
    newsroom: Newsroom,
) -> None:
    """The outlet's week (UTC) is not over when Tokyo's is: Tokyo's readers are queued, the others counted."""
    tokyo = await reader_in(newsroom, "711", ReaderTime("Asia/Tokyo"), cadences=WEEKLY_CHAT)
    outlet = await reader_in(newsroom, "712", ReaderTime(), cadences=WEEKLY_CHAT)
    await store_story_at(newsroom, datetime(2026, 3, 4, 12, tzinfo=UTC), "bridge", "The bridge reopens", "local")
    early = await queue_weekly_digests(newsroom, "2026-W10", clock=clock_at(datetime(2026, 3, 8, 16, tzinfo=UTC)))
    assert (early.queued, early.waiting) == ({"telegram": 1, "email": 0}, {"telegram": 1, "email": 0})
    assert await digest_due(newsroom, "2026-W10") == {tokyo: datetime(2026, 3, 8, 22, tzinfo=UTC)}

    later = await queue_weekly_digests(newsroom, "2026-W10", clock=clock_at(datetime(2026, 3, 9, 0, 1, tzinfo=UTC)))
    assert (later.queued, later.waiting) == ({"telegram": 1, "email": 0}, {"telegram": 0, "email": 0})
    due = await digest_due(newsroom, "2026-W10")
    assert due == {tokyo: datetime(2026, 3, 8, 22, tzinfo=UTC), outlet: datetime(2026, 3, 9, 7, tzinfo=UTC)}

    with pytest.raises(InvalidWeek, match="not over yet for any reader"):
        await queue_weekly_digests(newsroom, "2026-W11", clock=clock_at(datetime(2026, 3, 15, 14, tzinfo=UTC)))


async def test_dst_changes_neither_skip_nor_double_a_digest(newsroom: Newsroom) -> None:
    """New York leaves summer time on Sunday 1 November 2026, Berlin on 25 October: each week's digest is
    planned once per reader at 07:00 local, before and after."""
    newsroom.settings = newsroom.settings.model_copy(update={"digest_timezone": "Europe/Berlin"})
    new_york = await reader_in(newsroom, "721", ReaderTime("America/New_York"), cadences=WEEKLY_CHAT)
    berlin = await reader_in(newsroom, "722", ReaderTime(), cadences=WEEKLY_CHAT)
    expected = {}
    for week, monday in (("2026-W43", 19), ("2026-W44", 26)):
        await store_story_at(newsroom, datetime(2026, 10, monday + 2, 12, tzinfo=BERLIN), week, week, "local")
    for week, next_monday in (("2026-W43", datetime(2026, 10, 26)), ("2026-W44", datetime(2026, 11, 2))):
        for _ in range(2):  # a rerun queues nothing twice
            after = next_monday.replace(hour=23, tzinfo=BERLIN)
            await queue_weekly_digests(newsroom, week, clock=clock_at(after))
        expected[week] = await digest_due(newsroom, week)
    assert expected == {
        "2026-W43": {new_york: datetime(2026, 10, 26, 11, tzinfo=UTC), berlin: datetime(2026, 10, 26, 6, tzinfo=UTC)},
        "2026-W44": {new_york: datetime(2026, 11, 2, 12, tzinfo=UTC), berlin: datetime(2026, 11, 2, 6, tzinfo=UTC)},
    }


def test_quiet_hours_end_at_their_local_end_across_midnight_and_dst() -> None:
    late = datetime(2026, 10, 31, 23, tzinfo=NEW_YORK)  # the clocks go back at 02:00 that night
    assert quiet_hours_end(late, NEW_YORK, 22 * 60, 7 * 60) == datetime(2026, 11, 1, 12, tzinfo=UTC)
    early = datetime(2026, 11, 1, 6, 30, tzinfo=NEW_YORK)
    assert quiet_hours_end(early, NEW_YORK, 22 * 60, 7 * 60) == datetime(2026, 11, 1, 12, tzinfo=UTC)
    assert quiet_hours_end(datetime(2026, 11, 1, 7, tzinfo=NEW_YORK), NEW_YORK, 22 * 60, 7 * 60) is None
    assert quiet_hours_end(datetime(2026, 11, 2, 13, tzinfo=NEW_YORK), NEW_YORK, 12 * 60, 14 * 60) == datetime(
        2026, 11, 2, 19, tzinfo=UTC
    )
    assert quiet_hours_end(late, NEW_YORK, 8 * 60, 8 * 60) is None


async def test_quiet_hours_hold_a_normal_story_and_breaking_news_follows_the_readers_choice(
    live: tuple[Newsroom, DeliveryWorker], bot_api: FakeBotAPI
) -> None:
    newsroom, live_worker = live
    await reader_in(newsroom, "731", NIGHT)  # breaking news rings anyway (the default)
    await reader_in(newsroom, "732", ReaderTime("Europe/Berlin", 22 * 60, 7 * 60, quiet_holds_breaking=True))
    await reader_in(newsroom, "733", ReaderTime("Europe/Berlin"))  # no quiet hours
    clock = clock_at(datetime(2026, 3, 4, 23, 30, tzinfo=BERLIN))
    newsroom.clock = clock
    worker = DeliveryWorker(newsroom, live_worker.channels, clock=clock)

    await ingest_story(newsroom, sample_story(newsroom, "night-vote", "Council votes late", "local"))
    await ingest_story(newsroom, sample_story(newsroom, "fire", "Fire at the mill", "local", breaking=True))
    assert (await worker.drain(wait_for_retries=0)).sent == {"telegram": 3}
    assert [len(bot_api.sent_to(chat)) for chat in (731, 732, 733)] == [1, 0, 2]
    assert "Fire at the mill" in bot_api.sent_to(731)[0]

    move_to(clock, datetime(2026, 3, 5, 6, 59, tzinfo=BERLIN))
    assert (await worker.drain(wait_for_retries=0)).total == 0
    move_to(clock, datetime(2026, 3, 5, 7, 0, 1, tzinfo=BERLIN))
    assert (await worker.drain(wait_for_retries=0)).sent == {"telegram": 3}
    assert [len(bot_api.sent_to(chat)) for chat in (731, 732, 733)] == [2, 2, 2]
    assert "Council votes late" in bot_api.sent_to(731)[1]


async def test_quiet_hours_move_the_digest_past_their_end(newsroom: Newsroom) -> None:
    sleeper = await reader_in(newsroom, "741", ReaderTime("UTC", 22 * 60, 8 * 60), cadences=WEEKLY_CHAT)
    await store_story_at(newsroom, datetime(2026, 3, 4, 12, tzinfo=UTC), "bridge", "The bridge reopens", "local")
    await queue_weekly_digests(newsroom, "2026-W10", clock=clock_at(datetime(2026, 3, 9, 0, 1, tzinfo=UTC)))
    assert await digest_due(newsroom, "2026-W10") == {sleeper: datetime(2026, 3, 9, 8, tzinfo=UTC)}


async def test_sent_to_you_on_names_the_day_in_the_readers_own_zone(
    live: tuple[Newsroom, DeliveryWorker], bot_api: FakeBotAPI
) -> None:
    """A breaking story at Tuesday 20:00 UTC reached Tokyo on Wednesday morning: each digest says its own day."""
    newsroom, live_worker = live
    await reader_in(newsroom, "751", ReaderTime("Asia/Tokyo"), cadences=WEEKLY_CHAT)
    await reader_in(newsroom, "752", ReaderTime(), cadences=WEEKLY_CHAT)
    clock = clock_at(datetime(2026, 3, 3, 20, tzinfo=UTC))
    newsroom.clock = clock
    worker = DeliveryWorker(newsroom, live_worker.channels, clock=clock)
    await ingest_story(newsroom, sample_story(newsroom, "fire", "Fire at the mill", "local", breaking=True))
    await ingest_story(newsroom, sample_story(newsroom, "vote", "Council votes", "local"))
    assert (await worker.drain(wait_for_retries=0)).sent == {"telegram": 2}

    move_to(clock, datetime(2026, 3, 9, 12, tzinfo=UTC))
    await queue_weekly_digests(newsroom, "2026-W10", clock=clock)
    assert (await worker.drain(wait_for_retries=0)).sent == {"telegram": 2}
    assert "Sent to you on Wednesday" in bot_api.sent_to(751)[-1]
    assert "Sent to you on Tuesday" in bot_api.sent_to(752)[-1]


async def test_a_preview_for_a_reader_shows_their_own_week_and_days(
    live: tuple[Newsroom, DeliveryWorker], bot_api: FakeBotAPI
) -> None:
    """As the worker will send it: Tokyo's week, and the day a story reached Tokyo."""
    newsroom, live_worker = live
    await reader_in(newsroom, "761", ReaderTime("Asia/Tokyo"), cadences=WEEKLY_CHAT)
    clock = clock_at(datetime(2026, 3, 3, 20, tzinfo=UTC))
    newsroom.clock = clock
    worker = DeliveryWorker(newsroom, live_worker.channels, clock=clock)
    await ingest_story(newsroom, sample_story(newsroom, "fire", "Fire at the mill", "local", breaking=True))
    assert (await worker.drain(wait_for_retries=0)).sent == {"telegram": 1}
    # Sunday 20:00 UTC is Monday in Tokyo: the next week there.
    await store_story_at(newsroom, datetime(2026, 3, 8, 20, tzinfo=UTC), "late", "Late Sunday vote", "local")

    move_to(clock, datetime(2026, 3, 8, 12, tzinfo=UTC))
    preview = await preview_digest(newsroom, reader="761")
    assert preview.week.start == datetime(2026, 3, 2, tzinfo=TOKYO)
    (text,) = preview.telegram
    assert "Sent to you on Wednesday" in text and "Late Sunday vote" not in text
    outlet = await preview_digest(newsroom, topics=["local"])
    assert outlet.week.start == datetime(2026, 3, 2, tzinfo=UTC) and "Late Sunday vote" in outlet.telegram[0]


async def test_a_retry_that_would_fall_in_quiet_hours_waits_for_their_end(
    live: tuple[Newsroom, DeliveryWorker], smtp_sink: SmtpSink
) -> None:
    """Deferred by the receiving server at 21:59:50 Berlin, the retry would come after 22:00: it waits until 07:00
    for readers with quiet hours, breaking news only for the one who chose that it waits too."""
    newsroom, live_worker = live
    readers = {}
    for name, time in (
        ("rings", NIGHT),
        ("waits", ReaderTime("Europe/Berlin", 22 * 60, 7 * 60, quiet_holds_breaking=True)),
        ("awake", ReaderTime("Europe/Berlin")),
    ):
        address = f"{name}@example.org"
        readers[name] = await add_reader(
            newsroom, "local", email=address, cadences={ChannelName.EMAIL: Cadence.INSTANT}
        )
        async with newsroom.engine.begin() as conn:
            await reader_time.set_reader_time(conn, readers[name], time)
        smtp_sink.defer_recipient(address)
    clock = clock_at(datetime(2026, 3, 4, 21, 59, 50, tzinfo=BERLIN))
    newsroom.clock = clock
    worker = DeliveryWorker(newsroom, live_worker.channels, clock=clock)
    await ingest_story(newsroom, sample_story(newsroom, "vote", "Council votes late", "local"))
    await ingest_story(newsroom, sample_story(newsroom, "fire", "Fire at the mill", "local", breaking=True))
    assert (await worker.drain(wait_for_retries=0)).deferred == 6

    async with newsroom.reader.connect() as conn:
        rows = await conn.execute(
            select(deliveries.c.subscriber_id, deliveries.c.story_id, deliveries.c.not_before, deliveries.c.attempts)
        )
        due = {(subscriber, story): (not_before, attempts) for subscriber, story, not_before, attempts in rows}
    morning = datetime(2026, 3, 5, 7, tzinfo=BERLIN)
    held = {key for key, (not_before, attempts) in due.items() if attempts == 1 and not_before == morning}
    assert held == {(readers["rings"], "vote"), (readers["waits"], "vote"), (readers["waits"], "fire")}
    soon = {key for key, (not_before, _) in due.items() if not_before < datetime(2026, 3, 4, 22, 1, tzinfo=BERLIN)}
    assert soon == {(readers["rings"], "fire"), (readers["awake"], "vote"), (readers["awake"], "fire")}
