"""Signup and confirmation rate limits: per client address and per site, counted in the store (real SMTP sink)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from bot.app.config import Settings
from bot.app.newsroom import Newsroom
from bot.channels.smtp import SmtpChannel
from bot.readers.email_signup import request_email_confirmation
from bot.readers.request_limits import TooManyRequests, client_key
from bot.web import create_app
from tests.email_readers import bodies, parse_mail, path_of
from tests.fakes import FakeBotAPI, SmtpSink
from tests.newsroom_fixtures import add_reader
from tests.telegram_session import ChatSession, live_settings, running_service

#: A moment in the middle of a minute, so that "one minute later" is plainly the next window.
START = 1_790_000_010.0


class Clock:
    """The limits' clock, moved by the tests."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def mail(settings: Settings, smtp_sink: SmtpSink) -> AsyncIterator[tuple[Newsroom, SmtpChannel, Clock]]:
    """A newsroom mailing through aiosmtpd, its email channel, and the clock its request limits read."""
    room = await Newsroom.open(settings.model_copy(update={"smtp_url": smtp_sink.url}))
    clock = room.request_limits.clock = Clock()
    channel = SmtpChannel(smtp_sink.url, settings.mail_from)
    try:
        yield room, channel, clock
    finally:
        await channel.aclose()
        await room.close()


@asynccontextmanager
async def client_at(newsroom: Newsroom, channel: SmtpChannel, host: str) -> AsyncIterator[httpx.AsyncClient]:
    """The real app through httpx's ASGI transport, as seen from client address *host* (no traffic leaves)."""
    app = create_app(newsroom)
    app.state.email_channel = channel
    transport = httpx.ASGITransport(app=app, client=(host, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="https://news.example.org") as client:
        yield client


def confirm_path(smtp_sink: SmtpSink, address: str) -> str:
    text, _ = bodies(parse_mail(smtp_sink.received_by(address)[-1]))
    (link,) = [word for word in text.split() if word.startswith("https://news.example.org/confirm/")]
    return path_of(link)


async def test_200_signups_from_one_client_send_only_the_allowed_few_until_the_minute_is_over(
    mail: tuple[Newsroom, SmtpChannel, Clock], smtp_sink: SmtpSink
) -> None:
    newsroom, channel, clock = mail
    allowed = newsroom.settings.signup_limit_per_client
    async with client_at(newsroom, channel, "127.0.0.7") as client:
        answers = [
            await client.post("/subscribe", data={"email": f"stranger{n}@example.org", "topic": "local"})
            for n in range(200)
        ]
        assert [a.status_code for a in answers] == [200] * allowed + [429] * (200 - allowed)
        assert len(smtp_sink.messages) == allowed
        refused = answers[-1]
        assert refused.headers["Retry-After"] == "30"  # the rest of this minute
        assert "Please wait a moment" in refused.text
        assert "Too many sign-ups from your address in the last minute" in refused.text
        assert "nothing was sent" in refused.text and "try again in 30 seconds" in refused.text

        clock.now += 30
        again = await client.post("/subscribe", data={"email": "reader@example.org", "topic": "local"})
        assert again.status_code == 200 and "Check your inbox" in again.text
    assert len(smtp_sink.messages) == allowed + 1
    assert len(smtp_sink.received_by("reader@example.org")) == 1


async def test_the_site_limit_holds_across_clients_and_one_client_cannot_use_it_up(
    settings: Settings, smtp_sink: SmtpSink
) -> None:
    limited = settings.model_copy(
        update={"smtp_url": smtp_sink.url, "signup_limit_per_client": 2, "signup_limit_per_site": 5}
    )
    channel = SmtpChannel(smtp_sink.url, settings.mail_from)
    async with await Newsroom.open(limited) as newsroom:
        newsroom.request_limits.clock = Clock()
        statuses = []
        for n in range(8):
            async with client_at(newsroom, channel, f"127.0.1.{n}") as client:
                if n == 0:  # one client over its own limit is refused before the site's count
                    for extra in range(4):
                        await client.post("/subscribe", data={"email": f"extra{extra}@example.org", "topic": "local"})
                answer = await client.post("/subscribe", data={"email": f"reader{n}@example.org", "topic": "local"})
                statuses.append(answer.status_code)
        assert statuses == [429, 200, 200, 200, 429, 429, 429, 429]
        assert "receiving too many sign-ups right now" in answer.text and answer.headers["Retry-After"]
        assert len(smtp_sink.messages) == 5
    await channel.aclose()


async def test_confirm_attempts_are_limited_per_client_and_the_real_link_works_once_the_minute_is_over(
    mail: tuple[Newsroom, SmtpChannel, Clock], smtp_sink: SmtpSink
) -> None:
    newsroom, channel, clock = mail
    async with client_at(newsroom, channel, "127.0.0.8") as client:
        assert (
            await client.post("/subscribe", data={"email": "reader@example.org", "topic": "local"})
        ).status_code == 200
        real = confirm_path(smtp_sink, "reader@example.org")
        guesses = [await client.get(f"{real[:-4]}{n:04d}") for n in range(newsroom.settings.confirm_limit_per_client)]
        assert {guess.status_code for guess in guesses} == {400}
        held = await client.get(real)
        assert held.status_code == 429 and held.headers["Retry-After"] == "30"
        assert "Too many confirmation attempts from your address" in held.text
        async with client_at(newsroom, channel, "127.0.0.9") as neighbour:
            assert (await neighbour.get(real)).status_code == 200  # another client is not held up
        clock.now += 31
        assert (await client.get(real)).status_code == 200


async def test_signups_from_telegram_count_for_the_site_too(mail: tuple[Newsroom, SmtpChannel, Clock]) -> None:
    newsroom, channel, clock = mail
    newsroom.settings = newsroom.settings.model_copy(update={"signup_limit_per_site": 2})
    for n in range(2):
        reader = await add_reader(newsroom, "local", telegram_chat=str(900 + n))
        await request_email_confirmation(newsroom, channel, address=f"chat{n}@example.org", subscriber_id=reader)
    late = await add_reader(newsroom, "local", telegram_chat="999")
    with pytest.raises(TooManyRequests, match="too many sign-ups right now") as refused:
        await request_email_confirmation(newsroom, channel, address="chat-late@example.org", subscriber_id=late)
    assert refused.value.retry_after == 30
    clock.now += 60
    await request_email_confirmation(newsroom, channel, address="chat-late@example.org", subscriber_id=late)


async def test_web_processes_sharing_a_store_share_the_counts(
    mail: tuple[Newsroom, SmtpChannel, Clock], settings: Settings, smtp_sink: SmtpSink
) -> None:
    first, channel, clock = mail
    async with await Newsroom.open(first.settings) as second:
        second.request_limits.clock = clock
        for n in range(first.settings.signup_limit_per_client):
            room = (first, second)[n % 2]
            await request_email_confirmation(room, channel, address=f"r{n}@example.org", topics=["local"], client="c")
        for room in (first, second):
            with pytest.raises(TooManyRequests, match="from your address"):
                await request_email_confirmation(
                    room, channel, address="more@example.org", topics=["local"], client="c"
                )


def test_client_addresses_are_counted_by_host_and_ipv6_by_its_64_prefix() -> None:
    assert client_key("127.0.0.5") == "127.0.0.5"
    assert client_key("::ffff:127.0.0.5") == "127.0.0.5"
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key(None) is None and client_key("testclient") == "testclient"


async def test_behind_a_trusted_proxy_the_forwarded_client_address_is_what_counts(settings: Settings) -> None:
    live = settings.model_copy(update={"web_port": 0, "signup_limit_per_client": 1})
    async with running_service(live) as service, httpx.AsyncClient(base_url=service.web_url) as client:
        assert service.newsroom is not None
        service.newsroom.request_limits.clock = Clock()

        async def sign_up(n: int, forwarded_for: str) -> int:
            form = {"email": f"reader{n}@example.org", "topic": "local"}
            answer = await client.post("/subscribe", data=form, headers={"X-Forwarded-For": forwarded_for})
            return answer.status_code

        # The proxy (127.0.0.1, trusted by default) forwards two different readers: each has their own count.
        assert [await sign_up(1, "198.51.100.1"), await sign_up(2, "198.51.100.2")] == [200, 200]
        assert await sign_up(3, "198.51.100.1") == 429
    untrusted = live.model_copy(update={"trusted_proxies": "192.0.2.10"})
    async with running_service(untrusted) as service, httpx.AsyncClient(base_url=service.web_url) as client:
        assert service.newsroom is not None
        service.newsroom.request_limits.clock = Clock(START + 60)
        # Not from a trusted proxy: the header is ignored, both count as the connecting address.
        first = await client.post(
            "/subscribe",
            data={"email": "r4@example.org", "topic": "local"},
            headers={"X-Forwarded-For": "198.51.100.3"},
        )
        second = await client.post(
            "/subscribe",
            data={"email": "r5@example.org", "topic": "local"},
            headers={"X-Forwarded-For": "198.51.100.4"},
        )
        assert (first.status_code, second.status_code) == (200, 429)


async def test_a_chat_asking_for_too_many_confirmation_emails_is_told_so_politely(
    settings: Settings, bot_api: FakeBotAPI, smtp_sink: SmtpSink
) -> None:
    live = live_settings(settings, bot_api, smtp_url=smtp_sink.url, signup_limit_per_client=1, signup_cooldown=0)
    async with running_service(live) as service:
        chat = ChatSession(bot_api, service)
        chat.newsroom.request_limits.clock = Clock()
        first = await chat.say(5001, "/email reader@example.org")
        assert "sent a confirmation email" in first["text"]
        second = await chat.say(5001, "/email someone.else@example.org")
        assert "too many sign-ups from this chat in the last minute" in second["text"]
        assert "try again in 30 seconds" in second["text"]
    assert [message.rcpt_tos for message in smtp_sink.messages] == [["reader@example.org"]]
