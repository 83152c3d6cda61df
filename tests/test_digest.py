"""The weekly digest over a week of sample stories: who gets it, what is in it, and that it goes out once.

Email through aiosmtpd and Telegram through python-telegram-bot against the fake Bot API, both on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import html.parser
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.app.config import Settings
from bot.app.newsroom import Newsroom
from bot.cli import app as cli_app
from bot.outbox.digest_planning import queue_weekly_digests
from bot.outbox.digest_weeks import InvalidWeek, last_complete_week, parse_week, week_of
from bot.rendering.telegram_digest import split_telegram_message
from subscribers import readers
from subscribers.schema import Cadence, ChannelName, deliveries
from tests.email_readers import (
    assert_bulk_mail_headers,
    bodies,
    email_row,
    parse_mail,
    path_of,
    store_story_at,
    unsubscribe_links,
    web_client,
)
from tests.fakes import FakeBotAPI, SmtpSink
from tests.newsroom_fixtures import add_reader

WEEK = "2026-W10"  # Monday 2 March to Sunday 8 March 2026
MONDAY = datetime(2026, 3, 2, tzinfo=UTC)
WEEKLY_CHAT = {ChannelName.TELEGRAM: Cadence.WEEKLY}
INSTANT_EMAIL = {ChannelName.EMAIL: Cadence.INSTANT}


def day(offset: float, hour: int = 9) -> datetime:
    return MONDAY + timedelta(days=offset, hours=hour)


async def a_week_of_news(newsroom: Newsroom) -> None:
    await store_story_at(newsroom, day(-1, 23), "old", "Last week's parade drew crowds", "local")
    await store_story_at(
        newsroom,
        day(0),
        "mon",
        "Council passes the 2027 budget",
        "local",
        url="https://fairview-gazette.example/budget",
    )
    await store_story_at(
        newsroom, day(2), "wed", "Senate race tightens in the county", "us-politics", "local", breaking=True
    )
    await store_story_at(newsroom, day(3), "thu", "Fairview Falcons win the cup", "sports")
    await store_story_at(newsroom, day(4), "fri", "Mayor signs the transit plan", "local")
    await store_story_at(newsroom, day(5), "sat", "Governor vetoes the housing bill", "us-politics")
    await store_story_at(newsroom, day(7, 0), "next", "Next week's first story", "local")


async def digest_rows(newsroom: Newsroom) -> list:
    async with newsroom.engine.connect() as conn:
        return list(
            await conn.execute(select(deliveries).where(deliveries.c.item_key == f"digest:{WEEK}").order_by("id"))
        )


async def test_weekly_reader_gets_the_weeks_stories_grouped_by_topic_newest_first_each_once(
    live, smtp_sink: SmtpSink
) -> None:
    newsroom, worker = live
    await add_reader(newsroom, "local", "us-politics", email="weekly@example.org")
    await a_week_of_news(newsroom)

    report = await queue_weekly_digests(newsroom, WEEK)
    assert report.stories == 5 and report.queued == {"telegram": 0, "email": 1}
    assert (await worker.drain()).sent == {"email": 1}

    (received,) = smtp_sink.messages
    assert received.rcpt_tos == ["weekly@example.org"]
    message = parse_mail(received.data)
    assert_bulk_mail_headers(message, "weekly@example.org")
    assert message["Subject"] == "Senate race tightens in the county ... and 3 more stories"
    text, html = bodies(message)
    order = [
        "== US Politics ==",
        "Governor vetoes the housing bill",
        "Senate race tightens in the county",
        "== Local ==",
        "Mayor signs the transit plan",
        "Council passes the 2027 budget",
    ]
    positions = [text.index(fragment) for fragment in order]
    assert positions == sorted(positions)
    assert text.count("Senate race tightens in the county") == 1  # in two followed topics, listed once
    assert "Read more: https://fairview-gazette.example/budget" in text
    for absent in ("Falcons", "parade", "Next week"):
        assert absent not in text and absent not in html
    for headline in ("Governor vetoes", "Senate race", "Mayor signs", "Council passes"):
        assert headline in html
    assert "fonts.googleapis" not in html and "<img" not in html.lower()
    https, _ = unsubscribe_links(message)
    assert https in text and https in html


async def test_only_active_weekly_readers_with_news_that_week_get_a_digest(live, bot_api: FakeBotAPI) -> None:
    newsroom, worker = live
    await add_reader(newsroom, "sports", telegram_chat="501", cadences=WEEKLY_CHAT)
    await add_reader(newsroom, "local", telegram_chat="502")  # instant: had every story already
    await add_reader(newsroom, "local", email="instant@example.org", cadences=INSTANT_EMAIL)
    await add_reader(newsroom, "local", email="pending@example.org", confirmed=False)
    await add_reader(newsroom, "weather", email="no-news@example.org")  # no weather story that week
    await a_week_of_news(newsroom)

    report = await queue_weekly_digests(newsroom, WEEK)
    assert report.queued == {"telegram": 1, "email": 0}
    assert (await worker.drain()).sent == {"telegram": 1}
    (digest,) = bot_api.sent_to(501)
    assert "Fairview Falcons win the cup" in digest and "SPORTS" in digest
    assert "Council passes" not in digest
    assert bot_api.sent_to(502) == []


async def test_rerunning_the_digest_queues_and_sends_nothing_new(live, smtp_sink: SmtpSink) -> None:
    newsroom, worker = live
    await add_reader(newsroom, "local", email="weekly@example.org")
    await a_week_of_news(newsroom)
    assert (await queue_weekly_digests(newsroom, WEEK)).total == 1
    assert (await queue_weekly_digests(newsroom, WEEK)).total == 0
    await worker.drain()
    again = await queue_weekly_digests(newsroom, WEEK)
    assert again.total == 0 and again.queued == {"telegram": 0, "email": 0}
    assert (await worker.drain()).total == 0
    assert len(smtp_sink.messages) == 1
    assert len(await digest_rows(newsroom)) == 1


async def test_a_dry_run_counts_the_audience_and_queues_nothing(live) -> None:
    newsroom, _ = live
    await add_reader(newsroom, "local", email="weekly@example.org")
    await add_reader(newsroom, "sports", telegram_chat="501", cadences=WEEKLY_CHAT)
    await a_week_of_news(newsroom)
    report = await queue_weekly_digests(newsroom, WEEK, dry_run=True)
    assert report.dry_run and report.queued == {"telegram": 1, "email": 1}
    assert await digest_rows(newsroom) == []


async def test_mjml_is_compiled_once_per_set_of_followed_topics(live, smtp_sink: SmtpSink) -> None:
    newsroom, worker = live
    for n in range(3):
        await add_reader(newsroom, "local", "us-politics", email=f"both{n}@example.org")
    await add_reader(newsroom, "local", email="local@example.org")
    # Weather had no story that week: this reader's digest is the same as the local-only one.
    await add_reader(newsroom, "local", "weather", email="local-weather@example.org")
    await a_week_of_news(newsroom)
    await queue_weekly_digests(newsroom, WEEK)

    before = newsroom.renderer.mjml_compiles
    assert (await worker.drain()).sent == {"email": 5}
    assert newsroom.renderer.mjml_compiles - before == 2
    subjects = {parse_mail(m.data)["Subject"] for m in smtp_sink.messages}
    assert subjects == {
        "Senate race tightens in the county ... and 3 more stories",
        "Senate race tightens in the county ... and 2 more stories",
    }
    personal = {unsubscribe_links(parse_mail(m.data))[0] for m in smtp_sink.messages}
    assert len(personal) == 5


async def test_a_reader_who_stopped_following_the_weeks_topics_gets_no_empty_digest(live, smtp_sink: SmtpSink) -> None:
    newsroom, worker = live
    reader = await add_reader(newsroom, "local", email="weekly@example.org")
    await a_week_of_news(newsroom)
    await queue_weekly_digests(newsroom, WEEK)
    async with newsroom.engine.begin() as conn:
        await readers.save_reader_preferences(
            conn, reader, topics=["weather"], cadences={}, breaking_email=False, now=datetime.now(UTC)
        )
    report = await worker.drain()
    assert report.cancelled == {"email": 1}
    assert smtp_sink.messages == []


class BalancedTags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open.pop() == tag


async def test_a_long_telegram_digest_is_split_between_stories_into_messages_that_fit(
    live, bot_api: FakeBotAPI
) -> None:
    newsroom, worker = live
    await add_reader(newsroom, "local", telegram_chat="501", cadences=WEEKLY_CHAT)
    body = " ".join(["Residents packed the hall & said turnout was < 40% in ward 3, more than in ward 2."] * 6)
    for n in range(40):  # a compact digest fits a dozen stories in one message; forty do not
        await store_story_at(
            newsroom,
            day(n / 8),
            f"s{n:02d}",
            f"Local story number {n:02d}",
            "local",
            body=body,
            url=f"https://fairview-gazette.example/{n}?a=1&b=2",
        )
    await queue_weekly_digests(newsroom, WEEK)
    report = await worker.drain()
    assert report.sent == {"telegram": 1}

    parts = bot_api.sent_to(501)
    assert len(parts) > 1
    for part in parts:
        assert len(part.encode("utf-16-le")) // 2 <= 4096
        checker = BalancedTags()
        checker.feed(part)
        assert checker.open == []
    joined = "\n\n".join(parts)
    headlines = [f"Local story number {n:02d}" for n in reversed(range(40))]
    positions = [joined.index(h) for h in headlines]
    assert positions == sorted(positions)
    assert all(joined.count(h) == 1 for h in headlines)
    assert "&lt; 40%" in joined and "hall &amp; said" in joined
    (row,) = await digest_rows(newsroom)
    assert row.status == "sent"


def test_splitting_keeps_blocks_whole_and_packs_them() -> None:
    blocks = ["<b>a</b>\n" + "x" * 1500, "<b>b</b>\n" + "y" * 1500, "<b>c</b>\n" + "z" * 1500]
    parts = split_telegram_message("\n\n".join(blocks))
    assert parts == ["\n\n".join(blocks[:2]), blocks[2]]


async def test_following_the_digests_unsubscribe_link_unsubscribes_that_reader_only(live, smtp_sink: SmtpSink) -> None:
    newsroom, worker = live
    await add_reader(newsroom, "local", email="leaving@example.org")
    await add_reader(newsroom, "local", email="staying@example.org")
    await a_week_of_news(newsroom)
    await queue_weekly_digests(newsroom, WEEK)
    await worker.drain()
    (leaving,) = smtp_sink.received_by("leaving@example.org")
    https, _ = unsubscribe_links(parse_mail(leaving))
    async with web_client(newsroom) as client:
        response = await client.post(
            path_of(https),
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 200 and "set-cookie" not in response.headers
    assert (await email_row(newsroom, "leaving@example.org"))["status"] == "inactive"
    assert (await email_row(newsroom, "staying@example.org"))["status"] == "active"


def test_weeks_are_iso_weeks_in_the_digest_time_zone() -> None:
    week = parse_week("2026-W48", UTC)
    assert (week.key, week.start, week.end) == (
        "2026-W48",
        datetime(2026, 11, 23, tzinfo=UTC),
        datetime(2026, 11, 30, tzinfo=UTC),
    )
    assert week.label == "November 23 – 29, 2026"
    assert parse_week("2026-W01", UTC).label == "December 29, 2025 – January 4, 2026"
    berlin = parse_week("2026-W48", ZoneInfo("Europe/Berlin"))
    assert berlin.start == datetime(2026, 11, 22, 23, tzinfo=UTC)
    # Sunday 23:30 UTC is already Monday in Berlin: the next week there.
    sunday_night = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)
    assert week_of(sunday_night, UTC).key == "2026-W48"
    assert week_of(sunday_night, ZoneInfo("Europe/Berlin")).key == "2026-W49"
    assert last_complete_week(datetime(2026, 11, 30, 7, tzinfo=UTC), UTC).key == "2026-W48"


@pytest.mark.parametrize("text", ["2026-48", "last week", "2025-W53", "2026-W00", "2026-W54"])
def test_malformed_or_impossible_weeks_are_refused(text: str) -> None:
    with pytest.raises(InvalidWeek):
        parse_week(text, UTC)


async def test_a_week_that_is_not_over_cannot_be_sent(newsroom: Newsroom) -> None:
    current = week_of(datetime.now(UTC), UTC)
    with pytest.raises(InvalidWeek, match="not over yet"):
        await queue_weekly_digests(newsroom, current.key)


async def test_by_default_the_digest_covers_the_last_complete_week(newsroom: Newsroom) -> None:
    report = await queue_weekly_digests(newsroom)
    assert report.week == last_complete_week(datetime.now(UTC), UTC).key


def test_digest_command_dry_run_then_real_run_then_rerun(settings: Settings) -> None:
    async def prepare() -> None:
        async with await Newsroom.open(settings) as newsroom:
            await add_reader(newsroom, "local", email="weekly@example.org")
            await a_week_of_news(newsroom)

    asyncio.run(prepare())
    env = {"NEWSBOT_DATABASE_URL": settings.database_url, "NEWSBOT_DATA_DIR": str(settings.data_dir)}
    runner = CliRunner()
    dry = runner.invoke(cli_app, ["digest", "--week", WEEK, "--dry-run", "--json"], env=env)
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout) == {
        "week": WEEK,
        "label": "March 2 – 8, 2026",
        "stories": 5,
        "queued": {"telegram": 0, "email": 1},
        "dry_run": True,
        "waiting": {"telegram": 0, "email": 0},
    }
    real = runner.invoke(cli_app, ["digest", "--week", WEEK], env=env)
    assert real.exit_code == 0 and "Queued: telegram 0, email 1" in real.stdout
    rerun = runner.invoke(cli_app, ["digest", "--week", WEEK, "--json"], env=env)
    assert json.loads(rerun.stdout)["queued"] == {"telegram": 0, "email": 0}
    bad = runner.invoke(cli_app, ["digest", "--week", "2026-48"], env=env)
    assert bad.exit_code == 1 and "expected an ISO week such as 2026-W48" in bad.stderr
