"""The reader's pages through the real app (httpx ASGI transport) with mail through aiosmtpd on 127.0.0.1."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.app.config import DEVELOPMENT_SECRET, Settings
from bot.app.newsroom import Newsroom
from bot.channels.smtp import SmtpChannel
from bot.outbox.digest_planning import queue_weekly_digests
from bot.outbox.worker import DeliveryWorker
from bot.rendering.signed_links import LinkSigner
from bot.stories.intake import ingest_story
from subscribers import reader_time
from subscribers import readers as readers_store
from subscribers.reader_time import ReaderTime
from subscribers.schema import Cadence, ChannelName, addresses, deliveries
from tests.email_readers import (
    assert_bulk_mail_headers,
    bodies,
    email_row,
    parse_mail,
    path_of,
    store_story_at,
    topics_of,
    unsubscribe_links,
    web_client,
)
from tests.fakes import SmtpSink
from tests.newsroom_fixtures import add_reader
from tests.test_delivery import sample

ONE_CLICK = {"content": b"List-Unsubscribe=One-Click", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}


@pytest.fixture
async def site(settings: Settings, smtp_sink: SmtpSink):
    """The newsroom, its email channel (aiosmtpd) and an HTTP client for its web app."""
    room = await Newsroom.open(settings.model_copy(update={"smtp_url": smtp_sink.url}))
    channel = SmtpChannel(smtp_sink.url, settings.mail_from)
    try:
        async with web_client(room, channel) as client:
            yield room, channel, client
    finally:
        await channel.aclose()
        await room.close()


def link_in(data: bytes, prefix: str) -> str:
    text, _ = bodies(parse_mail(data))
    (link,) = {word for word in text.split() if word.startswith(f"https://news.example.org/{prefix}/")}
    return link


async def test_a_reader_signs_up_confirms_gets_the_digest_changes_preferences_and_leaves_in_one_click(
    site, smtp_sink: SmtpSink
) -> None:
    newsroom, channel, client = site
    form = await client.get("/subscribe?topic=local")
    assert form.status_code == 200
    assert 'name="topic" value="local" checked' in form.text and 'value="sports">' in form.text

    sent = await client.post("/subscribe", data={"email": "reader@example.org", "topic": ["local", "sports"]})
    assert sent.status_code == 200 and "Check your inbox" in sent.text
    (confirmation,) = smtp_sink.received_by("reader@example.org")
    confirmed = await client.get(path_of(link_in(confirmation, "confirm")))
    assert confirmed.status_code == 200 and "You are subscribed" in confirmed.text
    assert (await email_row(newsroom, "reader@example.org"))["status"] == "active"

    monday = datetime(2026, 3, 2, 9, tzinfo=UTC)
    await store_story_at(newsroom, monday, "budget", "Council passes the 2027 budget", "local")
    await store_story_at(newsroom, monday + timedelta(days=1), "cup", "Falcons win the cup", "sports")
    await queue_weekly_digests(newsroom, "2026-W10")
    assert (await DeliveryWorker(newsroom, {"email": channel}).drain()).sent == {"email": 1}
    digest = parse_mail(smtp_sink.received_by("reader@example.org")[-1])
    assert_bulk_mail_headers(digest, "reader@example.org")
    assert digest["Subject"] == "Falcons win the cup ... and 1 more story"

    preferences = link_in(smtp_sink.received_by("reader@example.org")[-1], "preferences")
    page = await client.get(path_of(preferences))
    assert page.status_code == 200 and "reader@example.org" in page.text
    saved = await client.post(
        path_of(preferences), data={"topic": ["local"], "cadence_email": "instant", "breaking_email": "on"}
    )
    assert saved.status_code == 200 and "Your preferences are saved." in saved.text
    row = await email_row(newsroom, "reader@example.org")
    assert (row["cadence"], row["breaking_email"]) == ("instant", True)
    assert await topics_of(newsroom, row["subscriber_id"]) == {"local"}

    https, _ = unsubscribe_links(digest)
    left = await client.post(path_of(https), **ONE_CLICK)
    assert left.status_code == 200 and "You are unsubscribed" in left.text
    assert "set-cookie" not in left.headers and not client.cookies
    assert (await email_row(newsroom, "reader@example.org"))["status"] == "inactive"


async def test_unsubscribing_is_one_button_idempotent_and_cancels_what_was_queued(site, smtp_sink: SmtpSink) -> None:
    newsroom, channel, client = site
    reader = await add_reader(
        newsroom, "north-korea", email="reader@example.org", cadences={ChannelName.EMAIL: Cadence.INSTANT}
    )
    await ingest_story(newsroom, sample(newsroom))
    path = path_of(newsroom.signer.unsubscribe_url(reader))

    page = await client.get(path)
    assert page.status_code == 200
    assert f'<form method="post" action="{path}">' in page.text and "reader@example.org" in page.text
    assert (await email_row(newsroom, "reader@example.org"))["status"] == "active"  # looking changes nothing

    for _ in range(2):
        response = await client.post(path)  # the page's button: an empty form
        assert response.status_code == 200 and "You are unsubscribed" in response.text
    assert (await email_row(newsroom, "reader@example.org"))["status"] == "inactive"
    async with newsroom.engine.connect() as conn:
        statuses = set((await conn.execute(select(deliveries.c.status))).scalars())
    assert statuses == {"cancelled"}
    assert (await DeliveryWorker(newsroom, {"email": channel}).drain()).total == 0
    assert smtp_sink.messages == []


async def test_a_reader_with_email_and_telegram_sets_cadence_per_channel_and_off_cancels_the_queue(site) -> None:
    newsroom, _, client = site
    reader = await add_reader(
        newsroom,
        "north-korea",
        telegram_chat="101",
        email="both@example.org",
        cadences={ChannelName.EMAIL: Cadence.INSTANT},
    )
    await ingest_story(newsroom, sample(newsroom))
    path = path_of(newsroom.signer.preferences_url(reader))
    page = await client.get(path)
    assert 'name="cadence_telegram" value="instant" checked' in page.text
    assert 'name="cadence_email" value="instant" checked' in page.text

    saved = await client.post(
        path, data={"topic": ["north-korea", "world"], "cadence_telegram": "off", "cadence_email": "weekly"}
    )
    assert saved.status_code == 200
    assert 'name="cadence_telegram" value="off" checked' in saved.text
    async with newsroom.engine.connect() as conn:
        rows = {row.channel: row for row in await conn.execute(select(addresses))}
        queued = {row.channel: row.status for row in await conn.execute(select(deliveries))}
    assert (rows["telegram"].cadence, rows["email"].cadence, rows["email"].breaking_email) == ("off", "weekly", False)
    assert queued == {"telegram": "cancelled", "email": "pending"}
    assert await topics_of(newsroom, reader) == {"north-korea", "world"}


@pytest.mark.parametrize(
    ("form", "problem"),
    [({"topic": ["no-such-topic"]}, "unknown topic"), ({"cadence_email": "hourly"}, "invalid cadence")],
)
async def test_bad_preference_forms_change_nothing(site, form: dict, problem: str) -> None:
    newsroom, _, client = site
    reader = await add_reader(newsroom, "local", email="reader@example.org")
    response = await client.post(path_of(newsroom.signer.preferences_url(reader)), data=form)
    assert response.status_code == 400 and problem in response.text
    assert await topics_of(newsroom, reader) == {"local"}
    assert (await email_row(newsroom, "reader@example.org"))["cadence"] == "weekly"


async def test_forged_and_expired_links_get_a_friendly_page_and_change_nothing(site, smtp_sink: SmtpSink) -> None:
    newsroom, _, client = site
    reader = await add_reader(newsroom, "local", email="reader@example.org")
    await client.post("/subscribe", data={"email": "new@example.org", "topic": "local"})
    confirm = path_of(link_in(smtp_sink.received_by("new@example.org")[0], "confirm"))
    forged_signer = LinkSigner("not-our-secret", newsroom.settings.public_url)
    old_signer = LinkSigner(newsroom.secret.value, newsroom.settings.public_url, clock=lambda: time.time() - 30 * 86400)
    new_id = (await email_row(newsroom, "new@example.org"))["subscriber_id"]
    bad_requests = [
        ("GET", confirm + "x", "not valid"),
        ("GET", path_of(forged_signer.confirm_url(new_id, address="new@example.org")), "not valid"),
        ("GET", path_of(old_signer.confirm_url(new_id, address="new@example.org")), "expired"),
        ("GET", path_of(newsroom.signer.unsubscribe_url(reader)).replace("/unsubscribe/", "/confirm/"), "not valid"),
        ("GET", path_of(forged_signer.unsubscribe_url(reader)), "not valid"),
        ("POST", path_of(forged_signer.unsubscribe_url(reader)), "not valid"),
        (
            "POST",
            path_of(newsroom.signer.preferences_url(reader)).replace("/preferences/", "/unsubscribe/"),
            "not valid",
        ),
        ("GET", path_of(forged_signer.preferences_url(reader)), "not valid"),
        ("POST", path_of(forged_signer.preferences_url(reader)), "not valid"),
    ]
    for method, path, problem in bad_requests:
        response = await client.request(method, path, data={"topic": ["sports"]} if method == "POST" else None)
        assert response.status_code == 400, path
        assert "This link does not work" in response.text and problem in response.text
        assert "Nothing was changed." in response.text
    assert (await email_row(newsroom, "reader@example.org"))["status"] == "active"
    assert (await email_row(newsroom, "new@example.org"))["status"] == "pending"
    assert await topics_of(newsroom, reader) == {"local"}


async def test_signup_form_errors_keep_what_was_typed_and_repeated_signups_wait(site, smtp_sink: SmtpSink) -> None:
    _, _, client = site
    bad = await client.post("/subscribe", data={"email": '"><b>x</b>@', "topic": "local"})
    assert bad.status_code == 400 and "invalid email address" in bad.text
    assert "<b>x</b>" not in bad.text and "&lt;b&gt;x&lt;/b&gt;" in bad.text
    assert 'value="local" checked' in bad.text
    none = await client.post("/subscribe", data={"email": "reader@example.org"})
    assert none.status_code == 400 and "choose at least one topic" in none.text

    assert (await client.post("/subscribe", data={"email": "reader@example.org", "topic": "local"})).status_code == 200
    again = await client.post("/subscribe", data={"email": "reader@example.org", "topic": "local"})
    assert again.status_code == 429 and "ask again in" in again.text
    assert int(again.headers["Retry-After"]) in (599, 600)  # NEWSBOT_SIGNUP_COOLDOWN, less the moment since
    assert len(smtp_sink.received_by("reader@example.org")) == 1


async def test_pages_keep_tokens_private_and_only_the_signup_form_can_be_embedded(site) -> None:
    newsroom, _, client = site
    reader = await add_reader(newsroom, "local", email="reader@example.org")
    form = await client.get("/subscribe")
    assert "frame-ancestors" not in form.headers["content-security-policy"]
    for path in (newsroom.signer.preferences_url(reader), newsroom.signer.unsubscribe_url(reader)):
        page = await client.get(path_of(path))
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert "<script" not in page.text and 'name="viewport"' in page.text


HOSTILE_TOPICS = """
[[topic]]
slug = "local"
name = "<script>alert('topic')</script>"
description = "<img src=x onerror=alert(1)>"
keywords = ["council"]

[[topic]]
slug = "sports"
name = "Sports & \\"Games\\""
keywords = ["match"]
"""


async def test_markup_in_topic_and_outlet_names_is_escaped_on_every_page(
    settings: Settings, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    topics = tmp_path / "hostile-topics.toml"
    topics.write_text(HOSTILE_TOPICS, encoding="utf-8")
    hostile = settings.model_copy(
        update={"topics_file": topics, "outlet_name": "<i>Gazette</i> <script>x()</script>", "smtp_url": smtp_sink.url}
    )
    channel = SmtpChannel(smtp_sink.url, settings.mail_from)
    async with await Newsroom.open(hostile) as newsroom, web_client(newsroom, channel) as client:
        reader = await add_reader(newsroom, "local", email="reader@example.org", telegram_chat="5")
        pages: list[httpx.Response] = [
            await client.get("/subscribe"),
            await client.post("/subscribe", data={"email": "bad", "topic": "local"}),
            await client.post("/subscribe", data={"email": "new@example.org", "topic": ["local", "sports"]}),
            await client.get(path_of(newsroom.signer.preferences_url(reader))),
            await client.post(path_of(newsroom.signer.preferences_url(reader)), data={"topic": "local"}),
            await client.post(path_of(newsroom.signer.preferences_url(reader)), data={"topic": "<script>"}),
            await client.get(path_of(newsroom.signer.unsubscribe_url(reader))),
            await client.post(path_of(newsroom.signer.unsubscribe_url(reader))),
            await client.get("/confirm/forged"),
        ]
        pages.append(await client.get(path_of(link_in(smtp_sink.received_by("new@example.org")[0], "confirm"))))
        await channel.aclose()
    for page in pages:
        assert page.status_code in (200, 400), page.text
        assert "<script" not in page.text and "<img" not in page.text and "<i>" not in page.text
        assert "&lt;i&gt;Gazette&lt;/i&gt;" in page.text
    assert "&lt;script&gt;alert(&#39;topic&#39;)&lt;/script&gt;" in pages[0].text
    assert "&lt;img src=x onerror=alert(1)&gt;" in pages[0].text
    assert "Sports &amp; &#34;Games&#34;" in pages[0].text
    _, html = bodies(parse_mail(smtp_sink.received_by("new@example.org")[0]))
    assert "<script" not in html and "&lt;script&gt;" in html


async def test_a_subscriber_removed_since_gets_a_friendly_page(site) -> None:
    newsroom, _, client = site
    reader = await add_reader(newsroom, "local", email="reader@example.org")
    async with newsroom.engine.begin() as conn:
        await readers_store.remove_subscriber(conn, reader)
    page = await client.get(path_of(newsroom.signer.preferences_url(reader)))
    assert page.status_code == 404 and "no subscription for this link" in page.text
    gone = await client.post(path_of(newsroom.signer.unsubscribe_url(reader)), **ONE_CLICK)
    assert gone.status_code == 200


async def test_with_no_secret_key_links_forged_with_the_old_public_default_are_refused(
    settings: Settings, smtp_sink: SmtpSink
) -> None:
    unset = settings.model_copy(update={"secret_key": "", "smtp_url": smtp_sink.url})
    channel = SmtpChannel(smtp_sink.url, settings.mail_from)
    async with await Newsroom.open(unset) as newsroom, web_client(newsroom, channel) as client:
        assert newsroom.secret.source == "store" and newsroom.secret.value != DEVELOPMENT_SECRET
        readers = [await add_reader(newsroom, "local", email=f"reader{n}@example.org") for n in range(1, 4)]
        await client.post("/subscribe", data={"email": "pending@example.org", "topic": "local"})
        pending = await email_row(newsroom, "pending@example.org")
        public = LinkSigner(DEVELOPMENT_SECRET, newsroom.settings.public_url)
        forged = [("GET", path_of(public.preferences_url(reader))) for reader in readers]
        forged += [("POST", path_of(public.preferences_url(reader))) for reader in readers]
        forged += [("POST", path_of(public.unsubscribe_url(reader))) for reader in readers]
        forged.append(("GET", path_of(public.confirm_url(pending["subscriber_id"], address="pending@example.org"))))
        for method, path in forged:
            response = await client.request(method, path, data={"topic": ["sports"]} if method == "POST" else None)
            assert response.status_code == 400 and "This link does not work" in response.text, path
            assert "reader1@example.org" not in response.text
        genuine = await client.get(path_of(newsroom.signer.preferences_url(readers[0])))
        assert genuine.status_code == 200 and "reader1@example.org" in genuine.text
    await channel.aclose()
    async with await Newsroom.open(unset) as newsroom:
        for reader in readers:
            assert await topics_of(newsroom, reader) == {"local"}
        assert {(await email_row(newsroom, f"reader{n}@example.org"))["status"] for n in range(1, 4)} == {"active"}
        assert (await email_row(newsroom, "pending@example.org"))["status"] == "pending"


async def test_one_address_signed_up_in_three_spellings_is_one_reader_and_one_email(site, smtp_sink: SmtpSink) -> None:
    newsroom, _, client = site
    first = await client.post("/subscribe", data={"email": "Jane.Doe@Example.ORG", "topic": "local"})
    assert first.status_code == 200
    for spelling in ("jane.doe@example.org", "JANE.DOE@EXAMPLE.ORG"):
        again = await client.post("/subscribe", data={"email": spelling, "topic": "sports"})
        assert again.status_code == 429 and "ask again in" in again.text  # the same address, just mailed
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["Jane.Doe@example.org"]]
    async with newsroom.engine.connect() as conn:
        assert await readers_store.count_subscribers(conn) == 1


async def test_the_preference_page_sets_the_time_zone_and_quiet_hours(site) -> None:
    newsroom, _, client = site
    reader = await add_reader(newsroom, "local", email="reader@example.org")
    path = path_of(newsroom.signer.preferences_url(reader))
    page = await client.get(path, headers={"Accept-Language": "es"})
    assert 'name="timezone" value="UTC"' in page.text and '<option value="Europe/Madrid">' in page.text
    assert "Horas de silencio de" in page.text

    form = {"topic": "local", "timezone": "America/New_York", "quiet": "on", "quiet_from": "23:00"}
    saved = await client.post(path, data={**form, "quiet_until": "06:30", "quiet_breaking": "wait"})
    assert saved.status_code == 200 and 'name="timezone" value="America/New_York"' in saved.text
    assert 'name="quiet_until" value="06:30"' in saved.text
    async with newsroom.reader.connect() as conn:
        stored = await reader_time.reader_time(conn, reader)
    assert stored == ReaderTime("America/New_York", 23 * 60, 6 * 60 + 30, True)


@pytest.mark.parametrize(
    ("form", "problem"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone: unknown time zone"),
        ({"quiet": "on", "quiet_from": "25:00", "quiet_until": "07:00"}, "quiet_from: expected a time such as 22:00"),
        ({"quiet": "on", "quiet_from": "22:00", "quiet_until": ""}, "quiet_until: expected a time"),
    ],
)
async def test_bad_time_zone_or_quiet_hours_name_the_field_and_change_nothing(site, form: dict, problem: str) -> None:
    newsroom, _, client = site
    reader = await add_reader(newsroom, "local", email="reader@example.org")
    response = await client.post(path_of(newsroom.signer.preferences_url(reader)), data={"topic": "local", **form})
    assert response.status_code == 400 and problem in response.text
    async with newsroom.reader.connect() as conn:
        assert await reader_time.reader_time(conn, reader) == ReaderTime()
