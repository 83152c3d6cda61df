"""The details big senders get right, seen at the SMTP sink: the postal address in every footer, a transactional
confirmation email (no list headers, a plain fallback link, no address in the link), dark-mode styles and a
preheader that spam filters do not score as hidden low-contrast text, and the start-up warnings of `newsbot run`."""

from __future__ import annotations

import base64
import html.parser
import json
import logging
import re
import zlib
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from bot.app.config import Settings
from bot.app.newsroom import Newsroom
from bot.app.sending_checks import email_setup_warnings
from bot.outbox.digest_planning import queue_weekly_digests
from bot.outbox.worker import DeliveryWorker
from bot.readers.email_signup import confirm_address, request_email_confirmation
from bot.rendering.renderer import UNSUBSCRIBE_URL_SENTINEL, Renderer
from bot.stories.corrections import correct_story
from bot.stories.intake import ingest_story, prepare_for, publish_story
from bot.stories.parsing import parse_story
from subscribers import email_readers
from subscribers.schema import Cadence, ChannelName
from tests.email_readers import bodies, parse_mail, path_of, store_story_at
from tests.fakes import SmtpSink
from tests.newsroom_fixtures import add_reader
from tests.test_delivery import sample

POSTAL = "Fairview Gazette Media, 100 Main Street, Fairview, OR 97000, USA"
INSTANT_EMAIL = {ChannelName.EMAIL: Cadence.INSTANT}
STORY = """---
title: Council passes the 2027 budget
url: https://fairview-gazette.example/council-budget
topics: [local]
id: council-budget-2027
---
The city council on Friday approved a budget of 12 million dollars for 2027, after a long debate.
"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared settings, with the outlet's postal address set."""
    return settings.model_copy(update={"postal_address": POSTAL})


def _mail_to(smtp_sink: SmtpSink, address: str, index: int = -1) -> EmailMessage:
    return parse_mail(smtp_sink.received_by(address)[index])


def _visible_text(markup: str) -> str:
    """The text a reader sees in an HTML body: no tags, entities decoded, whitespace collapsed."""

    class Text(html.parser.HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.parts: list[str] = []
            self.skip = 0

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.skip += tag in ("style", "title")

        def handle_endtag(self, tag: str) -> None:
            self.skip -= tag in ("style", "title")

        def handle_data(self, data: str) -> None:
            if not self.skip:
                self.parts.append(data)

    parser = Text()
    parser.feed(markup)
    return " ".join(" ".join(parser.parts).split())


def assert_postal_footer(message: EmailMessage) -> None:
    text, markup = bodies(message)
    assert f"Fairview Gazette · {POSTAL}" in text.rstrip().splitlines()[-1]  # the last line of the plain part
    assert f"Fairview Gazette · {POSTAL}" in _visible_text(markup)
    assert _visible_text(markup).rindex(POSTAL) > _visible_text(markup).rindex("Unsubscribe")


async def test_story_digest_correction_and_confirmation_emails_all_carry_the_postal_address(
    live: tuple[Newsroom, DeliveryWorker], smtp_sink: SmtpSink
) -> None:
    newsroom, worker = live
    await add_reader(newsroom, "north-korea", "local", email="instant@example.org", cadences=INSTANT_EMAIL)
    await add_reader(newsroom, "local", email="weekly@example.org")
    await ingest_story(newsroom, sample(newsroom))
    story = (
        await publish_story(
            newsroom, prepare_for(newsroom, parse_story(STORY, max_bytes=10_000), source="cli"), actor="cli"
        )
    ).story
    await worker.drain()
    assert_postal_footer(_mail_to(smtp_sink, "instant@example.org", 0))  # the sample story
    assert_postal_footer(_mail_to(smtp_sink, "instant@example.org", 1))  # the budget story

    await correct_story(
        newsroom,
        story.id,
        parse_story(STORY.replace("12", "21"), max_bytes=10_000),
        note="Fixed.",
        notify=True,
        actor="cli",
    )
    await worker.drain()
    correction = _mail_to(smtp_sink, "instant@example.org")
    assert correction["Subject"].startswith("Correction:")
    assert_postal_footer(correction)

    monday = datetime(2026, 3, 2, 9, tzinfo=UTC)
    await store_story_at(newsroom, monday, "mon", "Mayor signs the transit plan", "local")
    await queue_weekly_digests(newsroom, "2026-W10")
    await worker.drain()
    digest = _mail_to(smtp_sink, "weekly@example.org")
    assert "Mayor signs the transit plan" in digest["Subject"]
    assert_postal_footer(digest)

    await request_email_confirmation(newsroom, worker.channels["email"], address="new@example.org", topics=["local"])
    assert_postal_footer(_mail_to(smtp_sink, "new@example.org"))


def test_without_a_postal_address_the_footer_has_no_empty_line_for_it(settings: Settings, newsroom: Newsroom) -> None:
    renderer = Renderer(settings.model_copy(update={"postal_address": ""}), newsroom.taxonomy)
    context = {
        "address": "a@example.org",
        "topics": [],
        "confirm_url": "https://news.example.org/confirm/x",
        "valid_days": 7,
        "valid_hours": 168,
    }
    compiled = renderer.compile_email_set("confirm", context)
    assert POSTAL not in compiled.text and POSTAL not in compiled.html
    assert compiled.text.rstrip().splitlines()[-1] == f"Unsubscribe: {UNSUBSCRIBE_URL_SENTINEL}"


# --- the confirmation email is transactional -----------------------------------------------------------------


def _token_payload(link: str) -> str:
    """What anyone holding the link can read in its token: itsdangerous's base64 payload, inflated if compressed."""
    payload = path_of(link).rsplit("/", 1)[-1].split(".")[0]
    compressed = payload.startswith(".")
    data = base64.urlsafe_b64decode(payload.lstrip(".") + "=" * (-len(payload.lstrip(".")) % 4))
    return (zlib.decompress(data) if compressed else data).decode()


async def test_the_confirmation_email_is_transactional_with_a_fallback_link_that_hides_the_address(
    live: tuple[Newsroom, DeliveryWorker], smtp_sink: SmtpSink
) -> None:
    newsroom, worker = live
    address = "Jane.Long-Address@example.org"
    await request_email_confirmation(newsroom, worker.channels["email"], address=address, topics=["local"])
    message = _mail_to(smtp_sink, address)

    for bulk in ("List-Unsubscribe", "List-Unsubscribe-Post", "List-Id", "Precedence"):
        assert message[bulk] is None, bulk
    assert message["To"] == address and message["Message-ID"] and message["Date"] and message["From"]

    text, markup = bodies(message)
    (link,) = [word for word in text.split() if word.startswith("https://news.example.org/confirm/")]
    visible = _visible_text(markup)
    assert f"If the button does not work, copy this link into your browser: {link}" in visible
    assert markup.count(f'href="{link}"') == 2  # the button and the fallback
    assert address.lower() not in link.lower()
    payload = _token_payload(link)
    assert "address" not in json.loads(payload) and "example.org" not in payload.lower()

    confirmation = await confirm_address(newsroom, path_of(link).rsplit("/", 1)[-1])
    assert confirmation.newly_confirmed and confirmation.address == address


async def test_a_confirmation_link_mailed_before_the_address_digest_still_confirms(
    live: tuple[Newsroom, DeliveryWorker], smtp_sink: SmtpSink
) -> None:
    newsroom, worker = live
    request = await request_email_confirmation(
        newsroom, worker.channels["email"], address="old@example.org", topics=["local"]
    )
    async with newsroom.engine.connect() as conn:
        nonce = await email_readers.confirmation_nonce(conn, request.subscriber_id)
        sent_at = (await email_readers.find_email_of_subscriber(conn, request.subscriber_id)).confirmation_sent_at
    sent = (sent_at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    old_link = newsroom.signer.confirm_url(
        request.subscriber_id, address="old@example.org", topics="local", sent=sent, nonce=nonce
    )
    confirmation = await confirm_address(newsroom, path_of(old_link).rsplit("/", 1)[-1])
    assert confirmation.newly_confirmed and confirmation.topics == ("local",)


# --- dark mode and the preheader -----------------------------------------------------------------------------


_HEX = re.compile(r"#([0-9a-f]{6})\b")


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(one: str, other: str) -> float:
    high, low = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


class _ColourPairs(html.parser.HTMLParser):
    """Every run of text with the colour it is drawn in and the nearest background behind it (inline styles)."""

    VOID = frozenset({"meta", "br", "img", "hr", "link", "input", "col", "area", "base", "source", "wbr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str, str, bool]] = [("root", "000000", "ffffff", False)]
        self.pairs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        _, colour, background, hidden = self.stack[-1]
        found = dict(attrs)
        style = (found.get("style") or "").replace(" ", "").lower()
        for declaration in style.split(";"):
            name, _, value = declaration.partition(":")
            match = _HEX.search(value)
            if name == "color" and match:
                colour = match.group(1)
            elif name in ("background", "background-color") and match:
                background = match.group(1)
            elif name == "display" and value == "none":
                hidden = True
        if found.get("bgcolor"):
            background = found["bgcolor"].lstrip("#").lower()
        if tag not in self.VOID:
            self.stack.append((tag, colour, background, hidden))

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and len(self.stack) > 1:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        tag, colour, background, hidden = self.stack[-1]
        if data.strip() and tag not in ("style", "title") and not data.strip().startswith("[if"):
            self.pairs.append((data.strip(), colour, "hidden" if hidden else background))


async def test_every_email_declares_dark_mode_styles_and_draws_no_text_in_its_background_colour(
    live: tuple[Newsroom, DeliveryWorker], smtp_sink: SmtpSink
) -> None:
    newsroom, worker = live
    await add_reader(newsroom, "local", email="instant@example.org", cadences=INSTANT_EMAIL)
    await publish_story(
        newsroom, prepare_for(newsroom, parse_story(STORY, max_bytes=10_000), source="cli"), actor="cli"
    )
    await worker.drain()
    await request_email_confirmation(newsroom, worker.channels["email"], address="new@example.org", topics=["local"])
    for message in (_mail_to(smtp_sink, "instant@example.org"), _mail_to(smtp_sink, "new@example.org")):
        _, markup = bodies(message)
        assert '<meta name="color-scheme" content="light dark"' in markup
        assert "@media (prefers-color-scheme: dark)" in markup
        pairs = _ColourPairs()
        pairs.feed(markup)
        assert pairs.pairs
        for text, colour, background in pairs.pairs:
            if background == "hidden":
                assert colour == "000000", f"hidden text {text!r} is drawn in #{colour}"  # no white-on-white
                continue
            assert _contrast(colour, background) >= 4.5, f"{text!r}: #{colour} on #{background}"


async def test_the_inbox_preview_is_hidden_without_low_contrast_text(
    live: tuple[Newsroom, DeliveryWorker], smtp_sink: SmtpSink
) -> None:
    newsroom, worker = live
    await add_reader(newsroom, "north-korea", email="instant@example.org", cadences=INSTANT_EMAIL)
    await ingest_story(newsroom, sample(newsroom))
    await worker.drain()
    _, markup = bodies(_mail_to(smtp_sink, "instant@example.org"))
    (preheader,) = re.findall(r'<div style="display:none;[^"]*">([^<]*)</div>', markup)
    assert (
        len(preheader) > 40
        and preheader.rstrip("…").split()[0] in bodies(_mail_to(smtp_sink, "instant@example.org"))[0]
    )
    assert "font-size:1px" not in markup and "opacity:0" not in markup


# --- newsbot run's start-up warnings -------------------------------------------------------------------------


def test_a_real_relay_without_a_postal_address_is_warned_about() -> None:
    warnings = email_setup_warnings(Settings(smtp_url="smtp://relay.example.org:587", public_url="https://n.example"))
    assert len(warnings) == 1 and "NEWSBOT_POSTAL_ADDRESS is not set" in warnings[0]
    assert not email_setup_warnings(
        Settings(smtp_url="smtp://relay.example.org:587", public_url="https://n.example", postal_address=POSTAL)
    )
    assert not email_setup_warnings(Settings(public_url="https://n.example"))  # the file outbox mails nobody


@pytest.mark.parametrize(
    ("public_url", "warned"),
    [
        ("http://news.example.org", True),
        ("http://203.0.113.7:8080", True),
        ("https://news.example.org", False),
        ("http://127.0.0.1:8080", False),
        ("http://localhost:8080", False),
        ("http://[::1]:8080", False),
    ],
)
def test_a_plain_http_public_url_on_a_real_host_is_warned_about(public_url: str, warned: bool) -> None:
    warnings = email_setup_warnings(Settings(public_url=public_url))
    assert bool(warnings) is warned
    if warned:
        assert "NEWSBOT_PUBLIC_URL is plain http" in warnings[0] and "https" in warnings[0]


async def test_newsbot_run_logs_each_email_setup_warning_once_at_start(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.telegram_session import running_service

    plain = settings.model_copy(update={"web_port": 0, "public_url": "http://news.example.org", "postal_address": ""})
    with caplog.at_level(logging.INFO, logger="newsbot"):
        async with running_service(plain):
            pass
    warned = [record for record in caplog.records if record.name == "newsbot" and record.levelno == logging.WARNING]
    assert [record.getMessage().split(":")[0] for record in warned] == [
        "NEWSBOT_PUBLIC_URL is plain http on news.example.org"
    ]
