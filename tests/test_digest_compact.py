"""The compact weekly digest: linked headlines with one line, breaking marks, topic order, the 90 KB email cap,
stories a reader already got at once, and ``newsbot digest --preview`` for the week so far.

Email through aiosmtpd and Telegram through python-telegram-bot against the fake Bot API, both on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import markupsafe
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from typer.testing import CliRunner

from bot.app.config import Settings, load_settings
from bot.app.errors import ConfigurationError
from bot.app.newsroom import Newsroom
from bot.cli import app as cli_app
from bot.outbox.digest_grouping import digest_content, one_line
from bot.outbox.digest_planning import queue_weekly_digests
from bot.outbox.digest_weeks import digest_zone, week_of
from bot.topics.taxonomy import Taxonomy
from subscribers import deliveries as deliveries_store
from subscribers import readers
from subscribers.schema import Cadence, ChannelName, deliveries
from subscribers.stories import DigestStory
from tests.email_readers import bodies, parse_mail, store_story_at
from tests.fakes import FakeBotAPI, SmtpSink
from tests.newsroom_fixtures import add_reader, use_embedded_defaults

WEEK = "2026-W10"  # Monday 2 March to Sunday 8 March 2026
MONDAY = datetime(2026, 3, 2, tzinfo=UTC)
WEEKLY_CHAT = {ChannelName.TELEGRAM: Cadence.WEEKLY}
WEEKLY_BOTH = {ChannelName.TELEGRAM: Cadence.WEEKLY, ChannelName.EMAIL: Cadence.WEEKLY}
BODY = (
    "The council voted 7 to 2 on Friday after a four-hour debate that drew more than two hundred residents. "
    "Supporters said the plan would cut waiting times at the busiest stops by a third within a year. "
    "Opponents warned that the cost had doubled since the first estimate and asked for an independent review. "
    "The mayor said work would start in the spring and promised monthly reports on the budget. "
    "A second vote on the funding is expected before the summer recess."
)
THIRTEEN = [
    ("local", "Council approves the downtown transit plan after a long debate"),
    ("local", "Library reopens its east wing with a new children's reading room"),
    ("local", "Water main break closes three blocks of Elm Street for two days"),
    ("local", "School board names a new superintendent from a field of five"),
    ("local", "Farmers market moves indoors for the winter season"),
    ("us-politics", "Senate race tightens as both candidates court county voters"),
    ("us-politics", "Governor vetoes the housing bill, setting up an override fight"),
    ("us-politics", "State lawmakers agree on a school funding formula"),
    ("us-politics", "County clerk expects record early turnout in the primary"),
    ("sports", "Fairview Falcons win the regional cup in overtime"),
    ("sports", "High school track team sends four runners to the state finals"),
    ("weather", "First snow of the season expected overnight in the valley"),
    ("weather", "Ice storm warning issued for the northern townships"),
]


def day(offset: float, hour: int = 9) -> datetime:
    return MONDAY + timedelta(days=offset, hours=hour)


async def thirteen_story_week(newsroom: Newsroom) -> None:
    """A busy but ordinary week: 13 stories in four topics, most with the outlet's URL, one breaking."""
    for n, (topic, title) in enumerate(THIRTEEN):
        await store_story_at(
            newsroom,
            day(n / 2),
            f"week-{n:02d}",
            title,
            topic,
            body=BODY,
            breaking=n == 5,
            url=None
            if n % 4 == 3
            else f"https://fairview-gazette.example/2026/03/{n:02d}/{'-'.join(title.lower().split()[:5])}",
        )


async def test_a_thirteen_story_week_is_one_telegram_message_of_linked_headlines(live, bot_api: FakeBotAPI) -> None:
    newsroom, worker = live
    await add_reader(newsroom, "local", "us-politics", "sports", "weather", telegram_chat="501", cadences=WEEKLY_CHAT)
    await thirteen_story_week(newsroom)
    await queue_weekly_digests(newsroom, WEEK)
    assert (await worker.drain()).sent == {"telegram": 1}

    (digest,) = bot_api.sent_to(501)  # the old layout took two messages of 3,458 and 3,717 characters
    assert len(digest.encode("utf-16-le")) // 2 <= 4096
    for _, title in THIRTEEN:
        assert f">{markupsafe.escape(title)}</a>" in digest
    # A story without a URL of its own links to newsbot's story page.
    assert f'<a href="https://news.example.org/stories/week-03">{THIRTEEN[3][1]}</a>' in digest
    assert digest.count("The council voted 7 to 2") == 13  # one line per story ...
    assert "Supporters said" not in digest  # ... not the whole summary
    assert "Read more" not in digest
    assert "🔴 <a href" in digest and digest.count("🔴") == 1
    assert "/settings" in digest.rsplit("\n", 1)[-1]
    (params,) = bot_api.calls_to("sendMessage")
    assert params["link_preview_options"] == {"is_disabled": True}
    assert params["disable_notification"] in (True, "true", "True")


async def test_topics_come_in_the_configured_order_then_taxonomy_order(live, bot_api: FakeBotAPI) -> None:
    newsroom, worker = live
    newsroom.settings = newsroom.settings.model_copy(update={"digest_topic_order": ("weather", "local")})
    await add_reader(newsroom, "local", "us-politics", "sports", "weather", telegram_chat="501", cadences=WEEKLY_CHAT)
    await thirteen_story_week(newsroom)
    await queue_weekly_digests(newsroom, WEEK)
    await worker.drain()
    (digest,) = bot_api.sent_to(501)
    positions = [digest.index(f"<b>{name}</b>") for name in ("WEATHER", "LOCAL", "US POLITICS", "SPORTS")]
    assert positions == sorted(positions)


def test_an_unknown_topic_in_the_digest_order_stops_start_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_embedded_defaults(tmp_path, monkeypatch)
    monkeypatch.setenv("NEWSBOT_DIGEST_TOPIC_ORDER", "Local, sprots")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    message = str(caught.value)
    assert "NEWSBOT_DIGEST_TOPIC_ORDER" in message and "'sprots'" in message and "sports" in message
    assert "\n" not in message
    monkeypatch.setenv("NEWSBOT_DIGEST_TOPIC_ORDER", "Local, sports")
    assert load_settings().digest_topic_order == ("local", "sports")


def test_the_one_line_never_repeats_a_derived_headline() -> None:
    summary = "Flooding closed the river road on Monday. Crews expect to reopen it by Friday."
    assert one_line("Flooding closed the river road on Monday", summary) == "Crews expect to reopen it by Friday."
    assert one_line("Road closed", summary) == "Flooding closed the river road on Monday."
    assert one_line("Flooding closed the river road on Monday", "Flooding closed the river road on Monday.") == ""


def test_grouping_keeps_each_story_once_under_the_first_followed_topic() -> None:
    taxonomy = Taxonomy.load()
    story = DigestStory("s1", "Senate race", "It tightens.", None, True, MONDAY, ("us-politics", "local"))
    content = digest_content([story], frozenset({"local", "us-politics"}), taxonomy, link=lambda s: f"/s/{s.id}")
    assert content is not None
    assert [group.topic.slug for group in content.groups] == ["us-politics"]
    assert content.groups[0].stories[0].url == "/s/s1" and content.top.breaking


async def many_stories(newsroom: Newsroom, count: int) -> None:
    topics = ("local", "us-politics", "sports", "weather", "business")
    for n in range(count):
        await store_story_at(
            newsroom,
            day(n * 6 / count),
            f"many-{n:03d}",
            f"Story {n:03d}, the council and the county agree on the long-disputed budget for the coming year",
            topics[n % len(topics)],
            body=BODY,
            breaking=n % 17 == 0,
            url=f"https://fairview-gazette.example/2026/03/a-rather-long-path/for-story-{n:03d}?ref=newsletter",
        )


@pytest.mark.parametrize("count", [40, 70, 300])
async def test_the_email_digest_stays_under_90_kb_with_its_unsubscribe_footer(
    live, smtp_sink: SmtpSink, count: int
) -> None:
    newsroom, worker = live
    await add_reader(newsroom, "local", "us-politics", "sports", "weather", "business", email="weekly@example.org")
    await many_stories(newsroom, count)
    await queue_weekly_digests(newsroom, WEEK)
    assert (await worker.drain()).sent == {"email": 1}

    (received,) = smtp_sink.messages
    text, html = bodies(parse_mail(received.data))
    assert len(html.encode("utf-8")) < 90_000  # before this, 40 stories made 101.7 KB and 70 made 115 KB
    assert "Unsubscribe</a>" in html and "Manage preferences</a>" in html
    assert "Unsubscribe: https://" in text
    if count == 300:  # too many for one email: the rest is a link to each topic's archive
        assert "more Local stories this week</a>" in html
        assert 'href="https://news.example.org/topics/local"' in html
        assert "more stories this week: https://news.example.org/topics/local" in text
        assert "Story 299," in html and "Story 000," not in html  # newest first, so the oldest go
    else:
        assert "more stories this week" not in text
        assert html.count("Story ") >= count


async def test_a_story_the_reader_already_got_at_once_is_marked_not_repeated(live, bot_api: FakeBotAPI) -> None:
    newsroom, worker = live
    await add_reader(newsroom, "local", "us-politics", telegram_chat="501", cadences=WEEKLY_CHAT)
    await add_reader(newsroom, "local", "us-politics", telegram_chat="502", cadences=WEEKLY_CHAT)
    await thirteen_story_week(newsroom)
    breaking = "Senate race tightens as both candidates court county voters"
    # The breaking story reached chat 501 at once; chat 502 joined later and never had it.
    async with newsroom.engine.begin() as conn:
        await conn.execute(
            deliveries.insert().values(
                item_key=deliveries_store.story_item_key("week-05"),
                story_id="week-05",
                subscriber_id=await _subscriber_of(conn, "501"),
                channel="telegram",
                priority=0,
                status="sent",
                attempts=1,
                not_before=day(2, 21),
                created_at=day(2, 21),
                updated_at=day(2, 22),
                sent_at=day(2, 22),  # Wednesday
            )
        )
    await queue_weekly_digests(newsroom, WEEK)
    assert (await worker.drain()).sent == {"telegram": 2}

    (first,) = bot_api.sent_to(501)
    (second,) = bot_api.sent_to(502)
    mark = "✓ Sent to you on Wednesday"
    got_it = first.split(breaking, 1)[1].split("\n\n", 1)[0]
    assert mark in got_it and "The council voted" not in got_it
    assert mark not in second and "The council voted" in second.split(breaking, 1)[1].split("\n\n", 1)[0]


async def _subscriber_of(conn: AsyncConnection, chat: str) -> int:
    found = await readers.find_subscriber_ids(conn, [("telegram", chat)])
    return found[("telegram", chat)]


def _cli_env(settings: Settings) -> dict[str, str]:
    return {"NEWSBOT_DATABASE_URL": settings.database_url, "NEWSBOT_DATA_DIR": str(settings.data_dir)}


def test_preview_renders_this_weeks_digest_so_far_and_queues_nothing(settings: Settings, tmp_path: Path) -> None:
    this_week = week_of(datetime.now(UTC), digest_zone(settings))

    async def prepare() -> None:
        async with await Newsroom.open(settings) as newsroom:
            await add_reader(newsroom, "local", telegram_chat="501", email="weekly@example.org", cadences=WEEKLY_BOTH)
            await store_story_at(newsroom, this_week.start + timedelta(minutes=1), "now-1", "Bridge reopens", "local")
            await store_story_at(newsroom, this_week.start + timedelta(minutes=2), "now-2", "Falcons lose", "sports")

    asyncio.run(prepare())
    runner = CliRunner()
    env = _cli_env(settings)
    # Today the current week is refused even as a dry run; a preview renders it.
    refused = runner.invoke(cli_app, ["digest", "--week", this_week.key, "--dry-run"], env=env)
    assert refused.exit_code == 1 and "not over yet" in refused.stderr

    chat = runner.invoke(cli_app, ["digest", "--preview", "--reader", "501"], env=env)
    assert chat.exit_code == 0, chat.output
    assert f"Digest preview {this_week.key}" in chat.stdout and "nothing queued" in chat.stdout
    assert "Bridge reopens</a>" in chat.stdout and "Falcons lose" not in chat.stdout

    topics = runner.invoke(cli_app, ["digest", "--preview", "--topics", "local,Sports", "--json"], env=env)
    shown = json.loads(topics.stdout)
    assert shown["stories"] == 2 and shown["queued"] == 0 and len(shown["messages"]) == 1
    assert "Falcons lose</a>" in shown["messages"][0]

    target = tmp_path / "preview.html"
    mail = runner.invoke(
        cli_app,
        ["digest", "--preview", "--reader", "Weekly@Example.org", "--channel", "email", "--output", str(target)],
        env=env,
    )
    assert mail.exit_code == 0, mail.output
    assert str(target) in mail.stdout
    page = target.read_text(encoding="utf-8")
    assert "Bridge reopens" in page and "Unsubscribe</a>" in page and "newsbot-placeholder" not in page

    for args, problem in [
        (["--topics", "lcoal"], "unknown topic 'lcoal' (did you mean local?)"),
        (["--reader", "nobody@example.org"], "no reader with the email address 'nobody@example.org'"),
        (["--reader", "501", "--topics", "local"], "give --reader or --topics, not both"),
        (["--channel", "fax"], "unknown channel 'fax'"),
    ]:
        bad = runner.invoke(cli_app, ["digest", "--preview", *args], env=env)
        assert bad.exit_code == 1 and problem in bad.stderr and bad.stderr.count("\n") == 1, bad.output

    async def queued() -> list:
        async with await Newsroom.open(settings) as newsroom, newsroom.engine.connect() as conn:
            return list(await conn.execute(select(deliveries)))

    assert asyncio.run(queued()) == []
