"""Double opt-in: an email address gets nothing until its owner follows the link we mailed them (real SMTP)."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from bot.app.config import Settings
from bot.app.errors import InvalidSubscriber, InvalidToken, TopicNotFound
from bot.app.newsroom import Newsroom
from bot.channels.smtp import SmtpChannel
from bot.outbox.worker import DeliveryWorker
from bot.readers.email_signup import (
    AddressTaken,
    ConfirmationNotSent,
    SignupThrottled,
    confirm_address,
    request_email_confirmation,
)
from bot.rendering.signed_links import LinkSigner
from bot.stories.intake import ingest_story
from subscribers import email_readers, readers
from subscribers.schema import Cadence, ChannelName, addresses
from tests.email_readers import bodies, email_row, parse_mail, path_of, topics_of
from tests.fakes import SmtpSink
from tests.newsroom_fixtures import add_reader
from tests.test_delivery import sample


@pytest.fixture
async def mail(settings: Settings, smtp_sink: SmtpSink):
    """A newsroom sending through aiosmtpd on 127.0.0.1, and its email channel."""
    room = await Newsroom.open(settings.model_copy(update={"smtp_url": smtp_sink.url}))
    channel = SmtpChannel(smtp_sink.url, settings.mail_from)
    try:
        yield room, channel
    finally:
        await channel.aclose()
        await room.close()


def confirm_link(smtp_sink: SmtpSink, address: str, index: int = -1) -> str:
    text, _ = bodies(parse_mail(smtp_sink.received_by(address)[index]))
    (link,) = [word for word in text.split() if word.startswith("https://news.example.org/confirm/")]
    return link


def token_of(link: str) -> str:
    return path_of(link).rsplit("/", 1)[-1]


async def test_signup_mails_a_confirmation_and_the_address_gets_nothing_else_until_confirmed(
    mail, smtp_sink: SmtpSink
) -> None:
    newsroom, channel = mail
    request = await request_email_confirmation(
        newsroom, channel, address=" Reader@Example.org ", topics=["North Korea", "local"]
    )
    assert request.address == "Reader@example.org" and request.topics == ("north-korea", "local")
    assert not request.already_confirmed
    row = await email_row(newsroom, "Reader@example.org")
    assert row is not None and row["status"] == "pending" and row["confirmation_sent_at"] is not None

    (received,) = smtp_sink.messages
    assert received.rcpt_tos == ["Reader@example.org"]
    message = parse_mail(received.data)
    assert message["To"] == "Reader@example.org" and message["Message-ID"].endswith("@fairview-gazette.example>")
    assert message["List-Unsubscribe"] is None and message["Precedence"] is None  # transactional, not a list's
    assert message["Subject"] == "Confirm your subscription to Fairview Gazette"
    text, html = bodies(message)
    link = confirm_link(smtp_sink, "Reader@example.org")
    assert f'href="{link}"' in html
    assert "Topics: North Korea, Local" in text
    assert "7 days" in text

    # Pending: a story for its topics reaches nobody.
    await queries_set_instant(newsroom, request.subscriber_id)
    assert (await ingest_story(newsroom, sample(newsroom))).recipients == {"telegram": 0, "email": 0}
    assert len(smtp_sink.messages) == 1


async def queries_set_instant(newsroom: Newsroom, subscriber_id: int) -> None:
    async with newsroom.engine.begin() as conn:
        await conn.execute(
            update(addresses).where(addresses.c.subscriber_id == subscriber_id).values(cadence=Cadence.INSTANT.value)
        )


async def test_following_the_link_confirms_and_follows_the_topics_and_a_second_click_changes_nothing(
    mail, smtp_sink: SmtpSink
) -> None:
    newsroom, channel = mail
    request = await request_email_confirmation(newsroom, channel, address="reader@example.org", topics=["local"])
    token = token_of(confirm_link(smtp_sink, "reader@example.org"))

    confirmation = await confirm_address(newsroom, token)
    assert confirmation.newly_confirmed and confirmation.subscriber_id == request.subscriber_id
    row = await email_row(newsroom, "reader@example.org")
    assert row["status"] == "active" and row["confirmed_at"] is not None
    assert await topics_of(newsroom, request.subscriber_id) == {"local"}

    again = await confirm_address(newsroom, token)
    assert not again.newly_confirmed
    assert (await email_row(newsroom, "reader@example.org"))["confirmed_at"] == row["confirmed_at"]


async def test_repeated_signups_of_one_address_are_throttled(mail, smtp_sink: SmtpSink) -> None:
    newsroom, channel = mail
    await request_email_confirmation(newsroom, channel, address="reader@example.org", topics=["local"])
    with pytest.raises(SignupThrottled, match="ask again in 10 minutes"):
        await request_email_confirmation(newsroom, channel, address="reader@example.org", topics=["sports"])
    assert len(smtp_sink.messages) == 1


async def test_after_the_cooldown_a_new_link_replaces_the_old_one(mail, smtp_sink: SmtpSink) -> None:
    newsroom, channel = mail
    await request_email_confirmation(newsroom, channel, address="reader@example.org", topics=["local"])
    first = token_of(confirm_link(smtp_sink, "reader@example.org"))
    async with newsroom.engine.begin() as conn:  # the cooldown has passed
        await conn.execute(update(addresses).values(confirmation_sent_at=datetime.now(UTC) - timedelta(hours=1)))
    await request_email_confirmation(newsroom, channel, address="reader@example.org", topics=["sports"])
    second = token_of(confirm_link(smtp_sink, "reader@example.org"))
    with pytest.raises(InvalidToken, match="newer confirmation email"):
        await confirm_address(newsroom, first)
    assert (await email_row(newsroom, "reader@example.org"))["status"] == "pending"
    confirmation = await confirm_address(newsroom, second)
    assert confirmation.topics == ("sports",)


async def test_forged_expired_and_misused_links_change_nothing(mail, smtp_sink: SmtpSink) -> None:
    newsroom, channel = mail
    request = await request_email_confirmation(newsroom, channel, address="reader@example.org", topics=["local"])
    token = token_of(confirm_link(smtp_sink, "reader@example.org"))
    payload, _, signature = token.rpartition(".")
    forged = payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    other_secret = LinkSigner("another-secret", newsroom.settings.public_url).token(
        "confirm", request.subscriber_id, address="reader@example.org"
    )
    unsubscribe_token = newsroom.signer.token("unsubscribe", request.subscriber_id)
    week_ago = LinkSigner(newsroom.secret.value, newsroom.settings.public_url, clock=lambda: time.time() - 8 * 86400)
    row = await email_row(newsroom, "reader@example.org")
    expired = week_ago.token(
        "confirm",
        request.subscriber_id,
        address="reader@example.org",
        topics="local",
        sent=(row["confirmation_sent_at"] - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1),
    )
    for bad, reason in (
        (forged, "not valid"),
        (other_secret, "not valid"),
        (unsubscribe_token, "not valid"),
        (expired, "expired"),
        ("", "not valid"),
    ):
        with pytest.raises(InvalidToken, match=reason):
            await confirm_address(newsroom, bad)
    assert (await email_row(newsroom, "reader@example.org"))["status"] == "pending"


async def test_a_confirmation_link_replayed_after_unsubscribing_does_not_resubscribe(mail, smtp_sink: SmtpSink) -> None:
    newsroom, channel = mail
    request = await request_email_confirmation(newsroom, channel, address="reader@example.org", topics=["local"])
    token = token_of(confirm_link(smtp_sink, "reader@example.org"))
    await confirm_address(newsroom, token)
    async with newsroom.engine.begin() as conn:
        assert await email_readers.unsubscribe_email(conn, request.subscriber_id, datetime.now(UTC))
    with pytest.raises(InvalidToken, match="unsubscribed"):
        await confirm_address(newsroom, token)
    assert (await email_row(newsroom, "reader@example.org"))["status"] == "inactive"


async def test_signing_up_again_after_unsubscribing_needs_a_new_confirmation(mail, smtp_sink: SmtpSink) -> None:
    newsroom, channel = mail
    settings = newsroom.settings
    newsroom.settings = settings.model_copy(update={"signup_cooldown": 0})
    request = await request_email_confirmation(newsroom, channel, address="reader@example.org", topics=["local"])
    await confirm_address(newsroom, token_of(confirm_link(smtp_sink, "reader@example.org")))
    async with newsroom.engine.begin() as conn:
        await email_readers.unsubscribe_email(conn, request.subscriber_id, datetime.now(UTC))
    again = await request_email_confirmation(newsroom, channel, address="reader@example.org", topics=["sports"])
    assert again.subscriber_id == request.subscriber_id and not again.already_confirmed
    assert (await email_row(newsroom, "reader@example.org"))["status"] == "pending"
    await confirm_address(newsroom, token_of(confirm_link(smtp_sink, "reader@example.org")))
    assert await topics_of(newsroom, request.subscriber_id) == {"local", "sports"}


async def test_a_telegram_reader_adds_an_email_address_to_their_own_subscription(mail, smtp_sink: SmtpSink) -> None:
    newsroom, channel = mail
    chat_reader = await add_reader(newsroom, "north-korea", telegram_chat="777")
    request = await request_email_confirmation(
        newsroom, channel, address="chat-reader@example.org", subscriber_id=chat_reader
    )
    assert request.subscriber_id == chat_reader and request.topics == ()
    assert (await email_row(newsroom, "chat-reader@example.org"))["subscriber_id"] == chat_reader
    await confirm_address(newsroom, token_of(confirm_link(smtp_sink, "chat-reader@example.org")))
    assert (await email_row(newsroom, "chat-reader@example.org"))["status"] == "active"
    assert await topics_of(newsroom, chat_reader) == {"north-korea"}

    someone_else = await add_reader(newsroom, "local", telegram_chat="778")
    with pytest.raises(AddressTaken, match="already subscribed by another reader"):
        await request_email_confirmation(
            newsroom, channel, address="chat-reader@example.org", subscriber_id=someone_else
        )


async def test_changing_the_address_starts_double_opt_in_over(mail, smtp_sink: SmtpSink) -> None:
    newsroom, channel = mail
    newsroom.settings = newsroom.settings.model_copy(update={"signup_cooldown": 0})
    reader = await add_reader(newsroom, "local", email="old@example.org")
    await request_email_confirmation(newsroom, channel, address="new@example.org", subscriber_id=reader)
    assert await email_row(newsroom, "old@example.org") is None
    row = await email_row(newsroom, "new@example.org")
    assert row["subscriber_id"] == reader and row["status"] == "pending" and row["confirmed_at"] is None


@pytest.mark.parametrize(
    ("address", "topics", "error", "message"),
    [
        ("not-an-address", ["local"], InvalidSubscriber, "invalid email address"),
        ("reader@example.org", ["no-such-topic"], TopicNotFound, "unknown topic"),
        ("reader@example.org", [], InvalidSubscriber, "at least one topic"),
        ("reader@example.org\r\nBcc: victim@example.org", ["local"], InvalidSubscriber, "invalid email address"),
    ],
)
async def test_bad_requests_are_refused_before_anything_is_stored_or_sent(
    mail, smtp_sink: SmtpSink, address: str, topics: list[str], error: type[Exception], message: str
) -> None:
    newsroom, channel = mail
    with pytest.raises(error, match=message):
        await request_email_confirmation(newsroom, channel, address=address, topics=topics)
    assert smtp_sink.messages == []
    async with newsroom.engine.connect() as conn:
        assert await readers.count_subscribers(conn) == 0


async def test_a_refused_address_is_reported_and_may_be_corrected_at_once(mail, smtp_sink: SmtpSink) -> None:
    newsroom, channel = mail
    smtp_sink.refuse_recipient("typo@example.org")
    with pytest.raises(InvalidSubscriber, match=r"refused typo@example\.org"):
        await request_email_confirmation(newsroom, channel, address="typo@example.org", topics=["local"])
    assert (await email_row(newsroom, "typo@example.org"))["confirmation_sent_at"] is None
    smtp_sink.defer_recipient("busy@example.org")
    with pytest.raises(ConfirmationNotSent):
        await request_email_confirmation(newsroom, channel, address="busy@example.org", topics=["local"])


async def test_a_confirmed_reader_asking_again_gets_a_link_that_adds_topics(mail, smtp_sink: SmtpSink) -> None:
    newsroom, channel = mail
    reader = await add_reader(newsroom, "local", email="reader@example.org")
    request = await request_email_confirmation(newsroom, channel, address="reader@example.org", topics=["sports"])
    assert request.subscriber_id == reader and request.already_confirmed
    assert await topics_of(newsroom, reader) == {"local"}  # nobody else can change a reader's topics
    await confirm_address(newsroom, token_of(confirm_link(smtp_sink, "reader@example.org")))
    assert await topics_of(newsroom, reader) == {"local", "sports"}


async def test_hard_bounces_add_up_to_the_limit_then_the_address_stops(mail, smtp_sink: SmtpSink) -> None:
    newsroom, channel = mail
    await add_reader(newsroom, "north-korea", email="gone@example.org", cadences={ChannelName.EMAIL: Cadence.INSTANT})
    smtp_sink.refuse_recipient("gone@example.org")
    worker = DeliveryWorker(newsroom, {"email": channel})
    for n in range(1, 4):
        await ingest_story(newsroom, dataclasses.replace(sample(newsroom), id=f"north-korea-{n}"))
        report = await worker.drain()
        assert report.failed == {"email": 1}
        row = await email_row(newsroom, "gone@example.org")
        assert row["bounce_count"] == n
        assert row["status"] == ("bounced" if n == 3 else "active")
    later = await ingest_story(newsroom, dataclasses.replace(sample(newsroom), id="north-korea-4"))
    assert later.recipients["email"] == 0
    assert smtp_sink.messages == []


async def test_one_address_in_three_spellings_is_one_reader_with_the_first_spelling(mail, smtp_sink: SmtpSink) -> None:
    newsroom, channel = mail
    newsroom.settings = newsroom.settings.model_copy(update={"signup_cooldown": 0})
    first = await request_email_confirmation(newsroom, channel, address="Jane.Doe@Example.ORG", topics=["local"])
    second = await request_email_confirmation(newsroom, channel, address="jane.doe@example.org", topics=["sports"])
    third = await request_email_confirmation(newsroom, channel, address="JANE.DOE@EXAMPLE.ORG", topics=["weather"])
    assert first.subscriber_id == second.subscriber_id == third.subscriber_id
    assert first.address == second.address == third.address == "Jane.Doe@example.org"  # as typed first
    async with newsroom.engine.connect() as conn:
        assert await readers.count_subscribers(conn) == 1
    assert {tuple(m.rcpt_tos) for m in smtp_sink.messages} == {("Jane.Doe@example.org",)}
    # The latest link confirms the one address; the reader follows what that signup asked for.
    confirmation = await confirm_address(newsroom, token_of(confirm_link(smtp_sink, "Jane.Doe@example.org")))
    assert confirmation.newly_confirmed and confirmation.topics == ("weather",)
    assert (await email_row(newsroom, "Jane.Doe@example.org"))["status"] == "active"

    chat = await add_reader(newsroom, "local", telegram_chat="779")
    with pytest.raises(AddressTaken):
        await request_email_confirmation(newsroom, channel, address="jane.DOE@example.org", subscriber_id=chat)


async def test_a_link_signed_with_the_real_key_but_without_the_mailed_nonce_confirms_nothing(
    mail, smtp_sink: SmtpSink
) -> None:
    """Even someone who knows the key and the exact send time cannot confirm an address without its mailbox."""
    newsroom, channel = mail
    request = await request_email_confirmation(newsroom, channel, address="reader@example.org", topics=["local"])
    row = await email_row(newsroom, "reader@example.org")
    sent = (row["confirmation_sent_at"] - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert row["confirmation_nonce"] and len(row["confirmation_nonce"]) >= 22  # 128 random bits
    claims = {"address": "reader@example.org", "topics": "local", "sent": sent}
    for nonce in (None, "", "A" * 22, row["confirmation_nonce"][:-1]):
        forged = newsroom.signer.token(
            "confirm", request.subscriber_id, **claims, **({"nonce": nonce} if nonce is not None else {})
        )
        with pytest.raises(InvalidToken, match="not valid"):
            await confirm_address(newsroom, forged)
    assert (await email_row(newsroom, "reader@example.org"))["status"] == "pending"
    mailed = token_of(confirm_link(smtp_sink, "reader@example.org"))
    assert (await confirm_address(newsroom, mailed)).newly_confirmed
