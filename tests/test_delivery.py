"""Delivery end to end: real SMTP (aiosmtpd) and python-telegram-bot against a fake Bot API, both on loopback."""

from __future__ import annotations

import asyncio
import email
import email.policy
import html.parser
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import urlsplit

from sqlalchemy import func, select

from bot.app.newsroom import Newsroom
from bot.channels import EmailOutbox, TelegramOutbox, build_channels
from bot.channels.telegram import TelegramChannel
from bot.channels.telegram_rate_limit import TelegramRateLimiter
from bot.outbox.worker import DeliveryWorker
from bot.stories.intake import ingest_story, prepare_story
from bot.stories.parsing import parse_story, read_story_file
from bot.stories.story import Story
from subscribers import channel_health
from subscribers import deliveries as deliveries_store
from subscribers.schema import Cadence, ChannelName, addresses, deliveries
from tests.fakes import FakeBotAPI, SmtpSink
from tests.fakes.clock import HeldClock, ManualClock, ManualMonotonic
from tests.newsroom_fixtures import SAMPLE_STORY, add_reader
from tests.telegram_session import eventually

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
    assert "Trump leaned on memories" in text_part and "keep you posted" not in text_part
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
        '---\ntitle: Rates < 3% & falling at "City Hall"\nurl: https://x.example/a?b=1&c=2\ntopics: [local]\n---\n'
        "The council said turnout was < 40% & that 3 > 2 in every ward.\n",
    )
    await ingest_story(newsroom, story)
    assert (await worker.drain()).sent == {"telegram": 1}
    (text,) = bot_api.sent_to(101)
    assert "Rates &lt; 3% &amp; falling" in text
    (sent,) = bot_api.calls_to("sendMessage")
    assert sent["reply_markup"]["inline_keyboard"][0] == [{"text": "Read more", "url": "https://x.example/a?b=1&c=2"}]
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
    report = await worker.drain()  # the retry falls due within a minute: the drain waits for it
    assert report.sent == {"telegram": 1} and report.deferred == 0
    assert len(bot_api.sent_to(101)) == 1 and bot_api.too_many_requests == 1
    waited = bot_api.accepted_at[0] - bot_api.too_many_at[0]
    assert 0.9 <= waited <= 1.5
    (row,) = await delivery_rows(newsroom)
    assert row.status == "sent" and row.attempts == 2


async def test_a_deferred_recipient_backs_off_with_jitter_then_gives_up_after_its_attempts(
    live, smtp_sink: SmtpSink
) -> None:
    newsroom, worker = live
    for n in range(5):
        await add_reader(newsroom, "north-korea", email=f"busy{n}@example.org", cadences=INSTANT_EMAIL)
        smtp_sink.defer_recipient(f"busy{n}@example.org")  # 451 for this mailbox: the relay itself is fine
    await ingest_story(newsroom, sample(newsroom))
    started = datetime.now(UTC)
    report = await worker.drain(wait_for_retries=0)
    assert report.retrying == {"email": 5} and report.outages == {}
    rows = await delivery_rows(newsroom)
    assert {row.attempts for row in rows} == {1}
    waits = [(row.not_before - started).total_seconds() for row in rows]
    assert all(15.0 <= wait <= 31.0 for wait in waits)  # the first backoff: 30 s with full jitter down to half
    assert len({round(wait, 3) for wait in waits}) == 5

    async with newsroom.engine.begin() as conn:  # make them due again at their last allowed attempt
        await conn.execute(deliveries.update().values(not_before=datetime.now(UTC), attempts=4))
    assert (await worker.drain(wait_for_retries=0)).failed == {"email": 5}
    assert {row.last_error[:24] for row in await delivery_rows(newsroom)} == {"gave up after 5 attempts"}


async def test_smtp_hard_bounce_marks_the_address_and_soft_bounce_retries(live, smtp_sink: SmtpSink) -> None:
    newsroom, worker = live
    gone = await add_reader(newsroom, "north-korea", email="gone@example.org", cadences=INSTANT_EMAIL)
    busy = await add_reader(newsroom, "north-korea", email="busy@example.org", cadences=INSTANT_EMAIL)
    smtp_sink.refuse_recipient("gone@example.org")
    smtp_sink.defer_recipient("busy@example.org")
    await ingest_story(newsroom, sample(newsroom))
    report = await worker.drain(wait_for_retries=0)
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
        claimed = await deliveries_store.claim_due_deliveries(conn, 3, datetime.now(UTC))
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
        claimed = await deliveries_store.claim_due_deliveries(conn, 3, datetime.now(UTC))
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
    newsroom, live_worker = live
    clock = HeldClock()  # its polls come only when the test says, which it never does: only the wake can help
    worker = DeliveryWorker(newsroom, live_worker.channels, clock=clock)
    await add_reader(newsroom, "north-korea", telegram_chat="101")
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop, poll_interval=30))
    async with asyncio.timeout(30):
        await clock.asleep()  # it is idle now, waiting for its next poll
    await ingest_story(newsroom, sample(newsroom))
    worker.wake()
    await eventually(lambda: bot_api.sent_to(101), what="the story sent")
    stop.set()
    await asyncio.wait_for(running, timeout=5)
    assert len(bot_api.sent_to(101)) == 1
    (row,) = await delivery_rows(newsroom)
    assert row.status == "sent"


# --- a channel that cannot be reached (issue 10, point 3) ---------------------------------------------------


async def delivery_states(newsroom: Newsroom) -> Counter[str]:
    return Counter(row.status for row in await delivery_rows(newsroom))


async def test_a_relay_outage_pauses_email_fails_nothing_for_a_day_and_then_everyone_gets_it_once(
    live, smtp_sink: SmtpSink
) -> None:
    newsroom, live_worker = live
    clock = ManualClock()
    worker = DeliveryWorker(newsroom, live_worker.channels, clock=clock)
    readers = [f"desk{n}@fairview-gazette.example" for n in range(20)]
    for address in readers:
        await add_reader(newsroom, "north-korea", email=address, cadences=INSTANT_EMAIL)
    await ingest_story(newsroom, sample(newsroom))
    smtp_sink.stop()  # connection refused from now on

    report = await worker.drain()
    assert report.sent == {} and report.failed == {}
    assert set(report.outages) == {"email"} and report.outages["email"].waiting == 20
    assert "Errno 111" in (report.outages["email"].last_error or "")  # connection refused
    assert report.deferred == 20 and report.next_due == report.outages["email"].next_probe_at
    rows = await delivery_rows(newsroom)
    assert {row.status for row in rows} == {"pending"} and {row.attempts for row in rows} == {0}
    # The drain probed with one delivery at a time, backing off, and left when the next probe was a minute away.
    assert [round(wait) for wait in clock.slept[:4]] == [5, 10, 20, 40]

    clock.advance(hours=23)
    report = await worker.drain()
    assert report.failed == {} and await delivery_states(newsroom) == {"pending": 20}

    with SmtpSink(smtp_sink.port) as relay:  # the relay comes back
        clock.advance(minutes=30)
        report = await worker.drain()
        assert report.sent == {"email": 20} and report.outages == {} and report.deferred == 0
        assert sorted(message.rcpt_tos[0] for message in relay.messages) == sorted(readers)  # each exactly once
    assert await delivery_states(newsroom) == {"sent": 20}


async def test_deliveries_give_up_only_once_the_outage_has_lasted_newsbot_retry_for(live, smtp_sink: SmtpSink) -> None:
    newsroom, live_worker = live
    clock = ManualClock()
    worker = DeliveryWorker(newsroom, live_worker.channels, clock=clock)
    for n in range(3):
        await add_reader(newsroom, "north-korea", email=f"desk{n}@fairview-gazette.example", cadences=INSTANT_EMAIL)
    await ingest_story(newsroom, sample(newsroom))
    smtp_sink.stop()
    await worker.drain()
    clock.advance(hours=24, minutes=5)
    report = await worker.drain()
    assert report.failed == {"email": 3}
    rows = await delivery_rows(newsroom)
    assert {row.status for row in rows} == {"failed"}
    assert {row.last_error.split(":")[0] for row in rows} == {"gave up after 24 h of email unreachable"}


async def test_a_bot_api_answering_5xx_to_everything_pauses_telegram_and_nothing_is_lost(
    live, bot_api: FakeBotAPI
) -> None:
    newsroom, _ = live
    clock = ManualClock()
    # Hours pass between the probes, so the rate limiter's waits (a probe to a chat probed a real moment ago waits
    # out that chat's second) pass at once on a clock of its own too.
    pace = ManualMonotonic()
    limiter = TelegramRateLimiter(clock=pace, sleep=pace.sleep)
    channels = {"telegram": TelegramChannel.from_settings(newsroom.settings, rate_limiter=limiter)}
    worker = DeliveryWorker(newsroom, channels, clock=clock)
    for chat in range(5):
        await add_reader(newsroom, "north-korea", telegram_chat=str(600 + chat))
    await ingest_story(newsroom, sample(newsroom))
    bot_api.fail_next("sendMessage", 502, times=12)

    try:
        report = await worker.drain()
        assert report.sent == {} and report.failed == {} and set(report.outages) == {"telegram"}
        assert {row.attempts for row in await delivery_rows(newsroom)} == {0}
        # A second worker sharing the store respects the pause: it sends nothing before the next probe is due.
        calls = len(bot_api.calls_to("sendMessage"))
        other = DeliveryWorker(newsroom, channels, clock=clock)
        assert (await other.drain()).total == 0 and len(bot_api.calls_to("sendMessage")) == calls

        for _ in range(30):  # hours pass, one probe each time, until the API answers again
            clock.advance(hours=1)
            report = await worker.drain()
            if report.sent:
                break
    finally:
        await channels["telegram"].aclose()
    assert report.sent == {"telegram": 5} and report.outages == {}
    assert sorted(message.chat_id for message in bot_api.sent_messages) == list(range(600, 605))
    assert await delivery_states(newsroom) == {"sent": 5}


async def test_a_bot_api_that_is_down_is_probed_until_it_is_back(live, bot_api: FakeBotAPI) -> None:
    newsroom, live_worker = live
    clock = ManualClock()
    worker = DeliveryWorker(newsroom, live_worker.channels, clock=clock)
    for chat in range(3):
        await add_reader(newsroom, "north-korea", telegram_chat=str(700 + chat))
    await ingest_story(newsroom, sample(newsroom))
    await bot_api.stop()
    report = await worker.drain()
    assert report.failed == {} and set(report.outages) == {"telegram"}
    await bot_api.start()  # same port
    clock.advance(minutes=10)
    assert (await worker.drain()).sent == {"telegram": 3}
    assert sorted(message.chat_id for message in bot_api.sent_messages) == [700, 701, 702]


async def test_only_one_worker_gets_a_paused_channels_probe(newsroom: Newsroom) -> None:
    now = datetime.now(UTC)
    async with newsroom.engine.begin() as conn:
        await channel_health.record_unreachable(conn, "email", "smtp connect: refused", now, probe=False)
    later = now + timedelta(seconds=channel_health.FIRST_PROBE_SECONDS)
    async with newsroom.engine.begin() as conn:
        first = await channel_health.take_probe(conn, "email", later, later + timedelta(seconds=60), "worker-a")
        second = await channel_health.take_probe(conn, "email", later, later + timedelta(seconds=60), "worker-b")
    assert (first, second) == (True, False)


# --- stopping, and waiting for retries (issue 10, point 4) --------------------------------------------------


async def test_a_drain_waits_for_a_retry_due_within_a_minute(live, bot_api: FakeBotAPI) -> None:
    newsroom, live_worker = live
    clock = ManualClock()
    worker = DeliveryWorker(newsroom, live_worker.channels, clock=clock)
    await add_reader(newsroom, "north-korea", telegram_chat="101")
    await add_reader(newsroom, "north-korea", telegram_chat="102")
    await ingest_story(newsroom, sample(newsroom))
    async with newsroom.engine.begin() as conn:  # one delivery retries in 30 s, the other in an hour
        await conn.execute(
            deliveries.update().where(deliveries.c.id == 1).values(not_before=clock.now() + timedelta(seconds=30))
        )
        await conn.execute(
            deliveries.update().where(deliveries.c.id == 2).values(not_before=clock.now() + timedelta(hours=1))
        )
    report = await worker.drain()
    assert report.sent == {"telegram": 1} and report.deferred == 1
    assert report.next_due is not None and report.next_due - clock.now() > timedelta(minutes=50)
    assert len(bot_api.sent_messages) == 1


async def test_a_stop_request_finishes_and_records_what_is_in_flight_and_returns_the_rest(
    live, bot_api: FakeBotAPI
) -> None:
    newsroom, live_worker = live
    worker = DeliveryWorker(newsroom, live_worker.channels, concurrency=8)  # fewer in flight than there are chats
    for chat in range(40):
        await add_reader(newsroom, "north-korea", telegram_chat=str(800 + chat))
    await ingest_story(newsroom, sample(newsroom))
    answers = bot_api.hold("sendMessage")  # the sends stay in flight until the stop has been asked for
    stop = asyncio.Event()
    draining = asyncio.create_task(worker.drain(stop=stop))
    in_flight = worker.in_flight_limit
    await eventually(lambda: len(bot_api.calls_to("sendMessage")) >= in_flight, what="a full load of sends in flight")
    stop.set()
    answers.set()
    report = await asyncio.wait_for(draining, timeout=15)
    assert report.stopped and sum(report.sent.values()) == in_flight  # those in flight, and no more
    states = await delivery_states(newsroom)
    assert states["sending"] == 0 and states["sent"] == len(bot_api.sent_messages) == sum(report.sent.values())
    assert {row.attempts for row in await delivery_rows(newsroom) if row.status == "pending"} == {0}

    await worker.drain()  # the rerun sends the rest, and nothing twice
    per_chat = Counter(message.chat_id for message in bot_api.sent_messages)
    assert set(per_chat) == set(range(800, 840)) and set(per_chat.values()) == {1}


# --- outcomes recorded as they complete (issue 10, point 5) -------------------------------------------------


async def test_outcomes_are_recorded_as_sends_complete_never_more_than_the_in_flight_limit_behind(
    settings, bot_api: FakeBotAPI
) -> None:
    live_settings = settings.model_copy(update={"telegram_token": "123456:TEST", "telegram_api_url": bot_api.base_url})
    async with await Newsroom.open(live_settings) as newsroom:
        for chat in range(300):
            await add_reader(newsroom, "north-korea", telegram_chat=str(900 + chat))
        await ingest_story(newsroom, sample(newsroom))
        channel = TelegramChannel.from_settings(live_settings)  # no rate limiter: as fast as the fake answers
        bot_api.delay("sendMessage", 0.002)
        worker = DeliveryWorker(newsroom, {"telegram": channel}, concurrency=16)
        draining = asyncio.create_task(worker.drain())
        behind = []
        while not draining.done():
            received = len(bot_api.sent_messages)
            async with newsroom.engine.connect() as conn:
                recorded = (
                    await conn.execute(
                        select(func.count()).select_from(deliveries).where(deliveries.c.status == "sent")
                    )
                ).scalar_one()
            behind.append(received - recorded)
            await asyncio.sleep(0.005)
        assert (await draining).sent == {"telegram": 300}
        await channel.aclose()
    assert worker.in_flight_limit == 16
    assert max(behind) <= 16  # a whole batch (200) used to wait for its last send before anything was recorded
