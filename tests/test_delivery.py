"""Delivery end to end: real SMTP (aiosmtpd) and python-telegram-bot against a fake Bot API, both on loopback."""

from __future__ import annotations

import asyncio
import email
import email.policy
import html.parser
from datetime import UTC, datetime
from email.message import EmailMessage
from urllib.parse import urlsplit

from sqlalchemy import select

from bot.channels import EmailOutbox, TelegramOutbox, build_channels
from bot.delivery import DeliveryWorker
from bot.ingest import ingest_story, prepare_story
from bot.newsroom import Newsroom
from bot.story import Story
from bot.story_input import parse_story, read_story_file
from subscribers import queries
from subscribers.schema import Cadence, ChannelName, addresses, deliveries
from tests.fakes import FakeBotAPI, SmtpSink
from tests.newsroom_fixtures import SAMPLE_STORY, add_reader

INSTANT_EMAIL = {ChannelName.EMAIL: Cadence.INSTANT}


def sample(newsroom: Newsroom) -> Story:
    return prepare_story(
        read_story_file(SAMPLE_STORY, newsroom.settings.max_story_bytes),
        settings=newsroom.settings,
        taxonomy=newsroom.taxonomy,
        tagger=newsroom.tagger,
    )


def story_from(newsroom: Newsroom, text: str) -> Story:
    return prepare_story(
        parse_story(text, max_bytes=newsroom.settings.max_story_bytes),
        settings=newsroom.settings,
        taxonomy=newsroom.taxonomy,
        tagger=newsroom.tagger,
    )


async def address_status(newsroom: Newsroom, subscriber_id: int, channel: str) -> tuple[str, str]:
    async with newsroom.engine.connect() as conn:
        row = (
            await conn.execute(
                select(addresses.c.status, addresses.c.address).where(
                    addresses.c.subscriber_id == subscriber_id, addresses.c.channel == channel
                )
            )
        ).one()
    return row.status, row.address


async def delivery_rows(newsroom: Newsroom) -> list:
    async with newsroom.engine.connect() as conn:
        return list(await conn.execute(select(deliveries).order_by(deliveries.c.id)))


class TagCollector(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)


async def test_email_reader_gets_a_standard_multipart_message_over_smtp(live, smtp_sink: SmtpSink) -> None:
    newsroom, worker = live
    reader = await add_reader(newsroom, "north-korea", email="nk@example.org", cadences=INSTANT_EMAIL)
    await ingest_story(newsroom, sample(newsroom))
    report = await worker.drain()
    assert report.sent == {"email": 1}

    (received,) = smtp_sink.messages
    assert received.mail_from == "newsletter@fairview-gazette.example"
    assert received.rcpt_tos == ["nk@example.org"]
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["From"].addresses[0].display_name == "Fairview Gazette"
    assert message["To"] == "nk@example.org"
    assert message["Message-ID"].endswith("@fairview-gazette.example>")
    assert message["Date"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    links = [part.strip(" <>") for part in message["List-Unsubscribe"].split(",")]
    assert links[0].startswith("https://news.example.org/unsubscribe/")
    assert links[1].startswith("mailto:")
    token = urlsplit(links[0]).path.rsplit("/", 1)[-1]
    assert newsroom.signer.verify("unsubscribe", token)["subscriber_id"] == reader

    html_part = message.get_body(preferencelist=("html",)).get_content()
    text_part = message.get_body(preferencelist=("plain",)).get_content()
    assert "fonts.googleapis" not in html_part and "<link" not in html_part.lower()
    assert "In a candid exchange" in text_part and "keep you posted" not in text_part
    assert links[0] in html_part and links[0] in text_part


async def test_telegram_reader_gets_html_through_python_telegram_bot(live, bot_api: FakeBotAPI) -> None:
    newsroom, worker = live
    await add_reader(newsroom, "north-korea", telegram_chat="101")
    await add_reader(newsroom, "sports", telegram_chat="102")
    await ingest_story(newsroom, sample(newsroom))
    assert (await worker.drain()).sent == {"telegram": 1}

    (sent,) = bot_api.sent_messages
    assert sent.chat_id == 101 and sent.parse_mode == "HTML"
    assert sent.text.startswith("<b>")
    assert "#North_Korea" in sent.text
    assert bot_api.sent_to(102) == []
    (row,) = await delivery_rows(newsroom)
    assert row.status == "sent" and row.provider_id


async def test_markup_characters_in_a_story_reach_telegram_escaped(live, bot_api: FakeBotAPI) -> None:
    newsroom, worker = live
    await add_reader(newsroom, "local", telegram_chat="101")
    story = story_from(
        newsroom,
        "---\ntitle: Rates < 3% & falling at \"City Hall\"\nurl: https://x.example/a?b=1&c=2\ntopics: [local]\n---\n"
        "The council said turnout was < 40% & that 3 > 2 in every ward.\n",
    )
    await ingest_story(newsroom, story)
    assert (await worker.drain()).sent == {"telegram": 1}
    (text,) = bot_api.sent_to(101)
    assert "Rates &lt; 3% &amp; falling" in text
    assert 'href="https://x.example/a?b=1&amp;c=2"' in text
    collector = TagCollector()
    collector.feed(text)
    assert set(collector.tags) <= {"b", "a"}


async def test_blocked_chat_is_deactivated_and_gets_nothing_more(live, bot_api: FakeBotAPI) -> None:
    newsroom, worker = live
    reader = await add_reader(newsroom, "north-korea", telegram_chat="101")
    bot_api.block(101)
    await ingest_story(newsroom, sample(newsroom))
    report = await worker.drain()
    assert report.failed == {"telegram": 1}
    assert (await address_status(newsroom, reader, "telegram"))[0] == "inactive"
    (row,) = await delivery_rows(newsroom)
    assert row.status == "failed" and "blocked" in row.last_error

    later = await ingest_story(newsroom, story_from(newsroom, "---\ntopics: [north-korea]\n---\nMore news.\n"))
    assert later.recipients == {"telegram": 0, "email": 0}


async def test_chat_not_found_is_deactivated(live, bot_api: FakeBotAPI) -> None:
    newsroom, worker = live
    reader = await add_reader(newsroom, "north-korea", telegram_chat="101")
    bot_api.forget(101)
    await ingest_story(newsroom, sample(newsroom))
    await worker.drain()
    assert (await address_status(newsroom, reader, "telegram"))[0] == "inactive"


async def test_migrated_group_keeps_its_follows_under_the_new_id(live, bot_api: FakeBotAPI) -> None:
    newsroom, worker = live
    reader = await add_reader(newsroom, "north-korea", telegram_chat="-4242")
    new_id = bot_api.migrate(-4242)
    await ingest_story(newsroom, sample(newsroom))
    report = await worker.drain()
    assert report.sent == {"telegram": 1}
    assert bot_api.sent_to(new_id) and not bot_api.sent_to(-4242)
    assert await address_status(newsroom, reader, "telegram") == ("active", str(new_id))


async def test_flood_wait_is_honoured_exactly_then_the_message_goes_out(live, bot_api: FakeBotAPI) -> None:
    newsroom, worker = live
    await add_reader(newsroom, "north-korea", telegram_chat="101")
    bot_api.fail_next("sendMessage", 429, retry_after=1)
    await ingest_story(newsroom, sample(newsroom))
    before = datetime.now(UTC)
    first = await worker.drain()
    assert first.retrying == {"telegram": 1} and first.deferred == 1
    (row,) = await delivery_rows(newsroom)
    assert row.status == "pending" and "429" in row.last_error
    waited = (row.not_before - before).total_seconds()
    assert 0.9 <= waited <= 1.5
    await asyncio.sleep(max(0.0, (row.not_before - datetime.now(UTC)).total_seconds()) + 0.05)
    second = await worker.drain()
    assert second.sent == {"telegram": 1}
    assert len(bot_api.sent_to(101)) == 1


async def test_server_errors_are_retried_with_backoff_then_given_up(live, bot_api: FakeBotAPI) -> None:
    newsroom, worker = live
    await add_reader(newsroom, "north-korea", telegram_chat="101")
    bot_api.fail_next("sendMessage", 502, times=10)
    await ingest_story(newsroom, sample(newsroom))
    report = await worker.drain()
    assert report.retrying == {"telegram": 1}
    (row,) = await delivery_rows(newsroom)
    assert row.attempts == 1
    assert (row.not_before - datetime.now(UTC)).total_seconds() >= 10  # backoff, not a hot loop

    async with newsroom.engine.begin() as conn:  # make it due again at its last allowed attempt
        await conn.execute(deliveries.update().values(not_before=datetime.now(UTC), attempts=4))
    await worker.drain()
    (row,) = await delivery_rows(newsroom)
    assert row.status == "failed" and row.last_error.startswith("gave up after 5 attempts")


async def test_smtp_hard_bounce_marks_the_address_and_soft_bounce_retries(live, smtp_sink: SmtpSink) -> None:
    newsroom, worker = live
    gone = await add_reader(newsroom, "north-korea", email="gone@example.org", cadences=INSTANT_EMAIL)
    busy = await add_reader(newsroom, "north-korea", email="busy@example.org", cadences=INSTANT_EMAIL)
    smtp_sink.refuse_recipient("gone@example.org")
    smtp_sink.defer_recipient("busy@example.org")
    await ingest_story(newsroom, sample(newsroom))
    report = await worker.drain()
    assert report.failed == {"email": 1} and report.retrying == {"email": 1}
    # One hard bounce is counted; the address stops at NEWSBOT_BOUNCE_LIMIT (tests/test_email_signup.py).
    assert (await address_status(newsroom, gone, "email"))[0] == "active"
    assert (await address_status(newsroom, busy, "email"))[0] == "active"
    assert smtp_sink.messages == []


async def test_unsubscribing_before_the_send_cancels_the_message(live, bot_api: FakeBotAPI) -> None:
    newsroom, worker = live
    reader = await add_reader(newsroom, "north-korea", telegram_chat="101")
    await ingest_story(newsroom, sample(newsroom))
    async with newsroom.engine.begin() as conn:
        await conn.execute(addresses.update().where(addresses.c.subscriber_id == reader).values(status="inactive"))
    report = await worker.drain()
    assert report.cancelled == {"telegram": 1}
    assert bot_api.sent_messages == []


async def test_a_worker_that_died_mid_batch_loses_nothing(live, bot_api: FakeBotAPI) -> None:
    newsroom, worker = live
    for chat in range(5):
        await add_reader(newsroom, "north-korea", telegram_chat=str(200 + chat))
    await ingest_story(newsroom, sample(newsroom))
    async with newsroom.engine.begin() as conn:  # a worker claims a batch, then dies before sending
        claimed = await queries.claim_due_deliveries(conn, 3, datetime.now(UTC))
    assert len(claimed) == 3
    report = await worker.drain()
    assert report.sent == {"telegram": 5}
    assert sorted(m.chat_id for m in bot_api.sent_messages) == [200, 201, 202, 203, 204]


async def test_second_ingest_and_delivery_send_nothing_new(live, bot_api: FakeBotAPI, smtp_sink: SmtpSink) -> None:
    newsroom, worker = live
    await add_reader(newsroom, "north-korea", telegram_chat="101", email="nk@example.org", cadences=INSTANT_EMAIL)
    await ingest_story(newsroom, sample(newsroom))
    await worker.drain()
    await ingest_story(newsroom, sample(newsroom))
    report = await worker.drain()
    assert report.total == 0
    assert len(bot_api.sent_messages) == 1 and len(smtp_sink.messages) == 1


async def test_breaking_news_is_sent_before_older_normal_stories(newsroom: Newsroom) -> None:
    for chat in range(3):
        await add_reader(newsroom, "north-korea", telegram_chat=str(300 + chat))
    await ingest_story(newsroom, sample(newsroom))
    breaking = story_from(newsroom, "---\ntopics: [north-korea]\nbreaking: true\n---\nMissile launch reported.\n")
    await ingest_story(newsroom, breaking)
    async with newsroom.engine.begin() as conn:
        claimed = await queries.claim_due_deliveries(conn, 3, datetime.now(UTC))
    assert {c.story_id for c in claimed} == {breaking.id}


async def test_without_credentials_messages_land_in_file_outboxes(newsroom: Newsroom) -> None:
    channels = build_channels(newsroom.settings)
    assert isinstance(channels["telegram"], TelegramOutbox) and isinstance(channels["email"], EmailOutbox)
    await add_reader(newsroom, "north-korea", telegram_chat="101", email="nk@example.org", cadences=INSTANT_EMAIL)
    await ingest_story(newsroom, sample(newsroom))
    report = await DeliveryWorker(newsroom, channels).drain()
    assert report.sent == {"telegram": 1, "email": 1}
    outbox = newsroom.settings.outbox_dir
    (eml,) = (outbox / "email").glob("*.eml")
    (chat,) = (outbox / "telegram").glob("*.html")
    assert email.message_from_bytes(eml.read_bytes())["To"] == "nk@example.org"
    assert "<b>" in chat.read_text(encoding="utf-8")


async def test_running_worker_sends_what_is_queued_and_stops_cleanly(live, bot_api: FakeBotAPI) -> None:
    newsroom, worker = live
    await add_reader(newsroom, "north-korea", telegram_chat="101")
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop, poll_interval=30))
    await asyncio.sleep(0.1)  # it is idle now, sleeping until woken
    await ingest_story(newsroom, sample(newsroom))
    worker.wake()
    for _ in range(100):
        if bot_api.sent_to(101):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(running, timeout=5)
    assert len(bot_api.sent_to(101)) == 1
    (row,) = await delivery_rows(newsroom)
    assert row.status == "sent"
