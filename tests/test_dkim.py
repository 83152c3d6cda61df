"""DKIM: with a key and selector set, every email the SMTP channel sends is signed, and each signature verifies with
dkimpy against the published key; signing runs off the event loop.

The public keys are served by a ``dnsfunc`` instead of DNS, so nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from typer.testing import CliRunner

from bot.app.config import Settings, load_settings
from bot.app.errors import ConfigurationError
from bot.app.newsroom import Newsroom
from bot.channels import OutgoingMessage, PermanentFailure, build_channels
from bot.channels.smtp import SmtpChannel
from bot.cli import app
from bot.outbox.worker import DeliveryWorker
from bot.readers.email_signup import request_email_confirmation
from bot.rendering.dkim_signing import DkimSigner
from bot.rendering.email_message import EmailTemplate
from bot.rendering.renderer import PREFERENCES_URL_SENTINEL, UNSUBSCRIBE_URL_SENTINEL, CompiledEmail
from bot.stories.intake import ingest_story, prepare_story
from bot.stories.parsing import read_story_file
from subscribers.schema import Cadence, ChannelName
from tests.email_readers import assert_bulk_mail_headers, parse_mail
from tests.fakes import SmtpSink
from tests.newsroom_fixtures import SAMPLE_STORY, add_reader, use_embedded_defaults

SELECTOR = "news2026"
ED25519_SELECTOR = "news2026e"
DOMAIN = "fairview-gazette.example"


def pem(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def rsa_key() -> tuple[bytes, bytes]:
    """A throwaway 2048-bit RSA key: (PEM private key, the TXT record that publishes its public half)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem(key), b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


@pytest.fixture(scope="module")
def ed25519_key() -> tuple[bytes, bytes]:
    """A throwaway Ed25519 key and its TXT record (RFC 8463: p= is the raw 32-byte public key)."""
    key = ed25519.Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return pem(key), b"v=DKIM1; k=ed25519; p=" + base64.b64encode(public)


@pytest.fixture
def signing(settings: Settings, rsa_key: tuple[bytes, bytes], tmp_path: Path) -> Settings:
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(rsa_key[0])
    return settings.model_copy(update={"dkim_key_file": key_file, "dkim_selector": SELECTOR})


@pytest.fixture
def dual(signing: Settings, ed25519_key: tuple[bytes, bytes], tmp_path: Path) -> Settings:
    key_file = tmp_path / "dkim-ed25519.pem"
    key_file.write_bytes(ed25519_key[0])
    return signing.model_copy(update={"dkim_ed25519_key_file": key_file, "dkim_ed25519_selector": ED25519_SELECTOR})


def dns_for(*records: tuple[str, bytes]):  # type: ignore[no-untyped-def]
    published = {f"{selector}._domainkey.{DOMAIN}.".encode(): record for selector, record in records}

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return published.get(name)

    return lookup


def signature_tags(message: bytes, index: int = 0) -> dict[str, str]:
    signature = parse_mail(message).get_all("DKIM-Signature")[index]
    return dict(tag.strip().split("=", 1) for tag in str(signature).replace("\r\n", "").split(";") if "=" in tag)


def story_template(settings: Settings) -> EmailTemplate:
    compiled = CompiledEmail(
        subject="Council passes the 2027 budget",
        html=f'<p>Budget.</p><a href="{UNSUBSCRIBE_URL_SENTINEL}">Leave</a>'
        f'<a href="{PREFERENCES_URL_SENTINEL}">Edit</a>',
        text=f"Budget.\nUnsubscribe: {UNSUBSCRIBE_URL_SENTINEL}\nPreferences: {PREFERENCES_URL_SENTINEL}\n",
    )
    return EmailTemplate(compiled, settings)


def personal(template: EmailTemplate, subscriber: int) -> bytes:
    return template.for_recipient(
        to=f"reader{subscriber}@example.org",
        unsubscribe_url=f"https://news.example.org/unsubscribe/token-{subscriber}",
        preferences_url=f"https://news.example.org/preferences/token-{subscriber}",
    )


def signer_for(settings: Settings) -> DkimSigner:
    signer = DkimSigner.from_settings(settings)
    assert signer is not None
    return signer


async def fan_out(settings: Settings, smtp_sink: SmtpSink, readers: int) -> list[bytes]:
    """The sample story emailed to *readers* readers by the delivery worker; the messages as the sink got them."""
    live = settings.model_copy(update={"smtp_url": smtp_sink.url})
    async with await Newsroom.open(live) as newsroom:
        for reader in range(readers):
            await add_reader(
                newsroom,
                "north-korea",
                email=f"reader{reader}@example.org",
                cadences={ChannelName.EMAIL: Cadence.INSTANT},
            )
        story = prepare_story(
            read_story_file(SAMPLE_STORY, live.max_story_bytes),
            settings=live,
            taxonomy=newsroom.taxonomy,
            tagger=newsroom.tagger,
        )
        await ingest_story(newsroom, story)
        channels = build_channels(live, only=["email"])
        report = await DeliveryWorker(newsroom, channels).drain()
        for channel in channels.values():
            await channel.aclose()
    assert report.sent == {"email": readers}
    return [received.data for received in smtp_sink.messages]


async def test_every_story_email_the_worker_sends_verifies_against_the_published_key(
    signing: Settings, rsa_key: tuple[bytes, bytes], smtp_sink: SmtpSink
) -> None:
    received = await fan_out(signing, smtp_sink, 30)
    assert len(received) == 30
    dns = dns_for((SELECTOR, rsa_key[1]))
    for message in received:
        assert message.startswith(b"DKIM-Signature: ")
        assert dkim.verify(message, dnsfunc=dns), message[:600]
    tags = signature_tags(received[0])
    assert tags["d"] == DOMAIN and tags["s"] == SELECTOR and tags["a"] == "rsa-sha256"
    assert tags["c"] == "relaxed/simple"
    signed = {name.strip().lower() for name in tags["h"].split(":")}
    assert {"from", "to", "subject", "list-unsubscribe", "list-unsubscribe-post", "list-id", "message-id"} <= signed
    signature_lines = received[0].split(b"\r\nFrom: ")[0].split(b"\r\n")
    assert max(len(line) for line in signature_lines) <= 78, signature_lines
    # Each reader's signature is their own: it covers their To and unsubscribe link.
    assert len({signature_tags(message)["b"] for message in received}) == 30
    assert_bulk_mail_headers(parse_mail(received[0]), parse_mail(received[0])["To"])


async def test_with_an_ed25519_key_too_both_signatures_verify(
    dual: Settings, rsa_key: tuple[bytes, bytes], ed25519_key: tuple[bytes, bytes], smtp_sink: SmtpSink
) -> None:
    received = await fan_out(dual, smtp_sink, 10)
    dns = dns_for((SELECTOR, rsa_key[1]), (ED25519_SELECTOR, ed25519_key[1]))
    for message in received:
        # RSA first: receivers that only look at the first signature see the one they all understand.
        assert [signature_tags(message, i)["a"] for i in (0, 1)] == ["rsa-sha256", "ed25519-sha256"]
        checker = dkim.DKIM(message)
        assert checker.verify(idx=0, dnsfunc=dns) and checker.verify(idx=1, dnsfunc=dns)
    tampered = received[0].replace(b"reader", b"Reader", 1)
    assert not dkim.DKIM(tampered).verify(idx=1, dnsfunc=dns)


def test_a_tampered_unsubscribe_header_or_body_fails_verification(
    signing: Settings, rsa_key: tuple[bytes, bytes]
) -> None:
    dns = dns_for((SELECTOR, rsa_key[1]))
    message = signer_for(signing).sign(personal(story_template(signing), 1))
    assert dkim.verify(message, dnsfunc=dns)
    swapped = message.replace(b"unsubscribe/token-1>", b"unsubscribe/token-9>", 1)
    assert swapped != message and not dkim.verify(swapped, dnsfunc=dns)
    post = message.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: nothing")
    assert post != message and not dkim.verify(post, dnsfunc=dns)
    body = message.replace(b"Budget.", b"Budgie.")
    assert body != message and not dkim.verify(body, dnsfunc=dns)


def test_relaxed_header_and_simple_body_rules_hold_for_folded_and_padded_messages(
    signing: Settings, rsa_key: tuple[bytes, bytes]
) -> None:
    """Folded headers, runs of spaces, a repeated header and trailing blank lines, as a relay may pass them on."""
    message = (
        b"Received: by relay\r\nFrom:   Desk <desk@fairview-gazette.example>  \r\nSubject: a long\r\n\tfolded   subject"
        b"\r\nTo: old@example.org\r\nTo: reader@example.org\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n\r\n"
        b"Hello  there \r\n\r\n\r\n"
    )
    dns = dns_for((SELECTOR, rsa_key[1]))
    signed = signer_for(signing).sign(message)
    assert dkim.verify(signed, dnsfunc=dns)
    assert dkim.verify(signed.replace(b"\r\n\tfolded   subject", b" folded subject"), dnsfunc=dns)  # relaxed
    assert dkim.verify(signed[:-2], dnsfunc=dns)  # simple: trailing empty lines do not count
    assert not dkim.verify(signed.replace(b"Hello  there", b"Hello there"), dnsfunc=dns)
    with pytest.raises(ValueError, match="From"):
        signer_for(signing).sign(b"Subject: no sender\r\n\r\nbody\r\n")


#: Header lines (each after From) that take every path of relaxed canonicalisation: spaces and tabs to compress,
#: folds with tabs, trailing and only whitespace, vertical tab and form feed, a lone CR, an LF before a space.
AWKWARD_HEADERS = [
    b"Subject:\tTab\t\tseparated\t \r\n",
    b"Subject: folded\r\n\twith a tab \r\n \t and   spaces\r\n",
    b"To: Reader   <reader@example.org>   \r\n",
    b"Subject:\r\n",
    b"Subject:   \t \r\n",
    b"Subject: vertical\x0btab and form feed \x0c\r\n",
    b"Subject: a lone\rCR\r\n",
    b"Subject: a bare\n LF fold\r\n",
    b"SUBJECT: Upper-case name\r\n",
    "Subject: Caf\u00e9  \u00fcber  \r\n".encode(),
]
#: Bodies for simple canonicalisation: trailing spaces count, trailing empty lines do not, a missing CRLF is added.
AWKWARD_BODIES = [b"Hello  \r\nthere \t\r\n", b"end\r\n\r\n\r\n", b"no line break", b"", b"\r\n\r\n", b"a\r\n \r\n"]


@pytest.mark.parametrize("header", AWKWARD_HEADERS)
def test_awkward_header_values_are_canonicalised_as_verifiers_do(
    signing: Settings, rsa_key: tuple[bytes, bytes], header: bytes
) -> None:
    message = b"From: Desk <desk@fairview-gazette.example>\r\n" + header + b"Date: today\r\n\r\nBody\r\n"
    assert dkim.verify(signer_for(signing).sign(message), dnsfunc=dns_for((SELECTOR, rsa_key[1])))


@pytest.mark.parametrize("body", AWKWARD_BODIES)
def test_awkward_bodies_are_canonicalised_as_verifiers_do(
    signing: Settings, rsa_key: tuple[bytes, bytes], body: bytes
) -> None:
    message = b"From: desk@fairview-gazette.example\r\nSubject: s\r\n\r\n" + body
    assert dkim.verify(signer_for(signing).sign(message), dnsfunc=dns_for((SELECTOR, rsa_key[1])))


async def test_confirmation_mail_received_over_smtp_verifies(
    signing: Settings, rsa_key: tuple[bytes, bytes], smtp_sink: SmtpSink
) -> None:
    channel = SmtpChannel(smtp_sink.url, signing.mail_from, signer=DkimSigner.from_settings(signing))
    async with await Newsroom.open(signing) as newsroom:
        await request_email_confirmation(newsroom, channel, address="reader@example.org", topics=["local"])
    await channel.aclose()
    (received,) = smtp_sink.messages
    assert dkim.verify(received.data, dnsfunc=dns_for((SELECTOR, rsa_key[1])))


async def test_a_message_that_cannot_be_signed_fails_alone_and_is_not_sent_unsigned(
    signing: Settings, smtp_sink: SmtpSink
) -> None:
    channel = SmtpChannel(smtp_sink.url, signing.mail_from, signer=signer_for(signing))
    with pytest.raises(PermanentFailure, match="DKIM: cannot DKIM-sign a message without a From header"):
        await channel.send(
            OutgoingMessage(key="d-1", address="reader@example.org", content=b"Subject: x\r\n\r\nhi\r\n")
        )
    await channel.send(
        OutgoingMessage(key="d-2", address="reader@example.org", content=personal(story_template(signing), 1))
    )
    await channel.aclose()
    (received,) = smtp_sink.messages
    assert received.data.startswith(b"DKIM-Signature: ")


async def test_signing_200_messages_leaves_the_event_loop_free(signing: Settings, rsa_key: tuple[bytes, bytes]) -> None:
    """The loop thread does not sign: while 200 messages are being signed it keeps answering, and what it spends
    on them is a small part of what the signatures cost (both measured as CPU time, in the same run)."""
    signer = DkimSigner(rsa_key[0], selector=SELECTOR, domain=DOMAIN)
    template = story_template(signing)
    messages = [personal(template, n) for n in range(200)]
    loop_thread = threading.get_ident()
    signing_threads: set[int] = set()
    sign = signer.sign

    looped = threading.Event()  # the loop went round after a signature had started

    def watched(message: bytes, **kwargs: int) -> bytes:
        signing_threads.add(threading.get_ident())
        if threading.get_ident() != loop_thread:  # on the loop itself it never could: the thread check fails instead
            assert looped.wait(30), "the loop never went round while a signature was under way"
        return sign(message, **kwargs)

    signer.sign = watched  # type: ignore[method-assign]
    try:
        started = time.thread_time()
        for message in messages[:20]:
            sign(message)
        on_loop_per_message = (time.thread_time() - started) / 20

        ticks = 0
        done = asyncio.Event()

        async def heartbeat() -> None:
            nonlocal ticks
            while not done.is_set():
                await asyncio.sleep(0.001)
                ticks += 1
                if signing_threads:
                    looped.set()

        async def sign_all() -> list[bytes]:
            try:
                return await asyncio.gather(*(signer.signed(message) for message in messages))
            finally:
                done.set()

        beating = asyncio.create_task(heartbeat())
        await asyncio.sleep(0)
        started = time.thread_time()
        signed = await sign_all()
        loop_cpu = time.thread_time() - started
        await beating
    finally:
        del signer.sign
    assert all(message.startswith(b"DKIM-Signature: ") for message in signed)
    assert signing_threads and loop_thread not in signing_threads
    assert looped.is_set()  # the loop went round while the signatures were being computed
    # The heartbeat spins the loop thread, so its CPU counts against the budget too.
    assert loop_cpu / len(messages) < on_loop_per_message / 2, (loop_cpu, on_loop_per_message, ticks)


def test_without_key_and_selector_nothing_is_signed(settings: Settings, smtp_sink: SmtpSink) -> None:
    assert DkimSigner.from_settings(settings) is None
    assert SmtpChannel.from_settings(settings.model_copy(update={"smtp_url": smtp_sink.url})).signer is None


def test_dkim_settings_go_together_and_the_keys_must_be_private_keys(
    settings: Settings, rsa_key: tuple[bytes, bytes], ed25519_key: tuple[bytes, bytes], tmp_path: Path
) -> None:
    garbage = tmp_path / "dkim.pem"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    rsa_file, ed_file = tmp_path / "rsa.pem", tmp_path / "ed.pem"
    rsa_file.write_bytes(rsa_key[0])
    ed_file.write_bytes(ed25519_key[0])
    with pytest.raises(ConfigurationError, match="NEWSBOT_DKIM_KEY_FILE and NEWSBOT_DKIM_SELECTOR"):
        load_settings(dkim_key_file=garbage)
    with pytest.raises(ConfigurationError, match="NEWSBOT_DKIM_KEY_FILE"):
        load_settings(dkim_key_file=tmp_path / "missing.pem", dkim_selector=SELECTOR)
    with pytest.raises(ConfigurationError, match="NEWSBOT_DKIM_SELECTOR"):
        load_settings(dkim_key_file=garbage, dkim_selector="bad selector!")
    with pytest.raises(ConfigurationError, match="NEWSBOT_DKIM_ED25519_KEY_FILE needs NEWSBOT_DKIM_KEY_FILE"):
        load_settings(dkim_ed25519_key_file=ed_file, dkim_ed25519_selector=ED25519_SELECTOR)
    with pytest.raises(ConfigurationError, match="must differ"):
        load_settings(
            dkim_key_file=rsa_file,
            dkim_selector=SELECTOR,
            dkim_ed25519_key_file=ed_file,
            dkim_ed25519_selector=SELECTOR,
        )
    cases = [
        ({"dkim_key_file": garbage}, "NEWSBOT_DKIM_KEY_FILE is not a PEM private key"),
        ({"dkim_key_file": ed_file}, "NEWSBOT_DKIM_KEY_FILE is not an RSA key"),
        ({"dkim_ed25519_key_file": rsa_file}, "NEWSBOT_DKIM_ED25519_KEY_FILE is not an Ed25519 key"),
        ({"dkim_ed25519_key_file": garbage}, "NEWSBOT_DKIM_ED25519_KEY_FILE is not a PEM private key"),
    ]
    for keys, error in cases:
        update = {"dkim_key_file": rsa_file, "dkim_selector": SELECTOR, "dkim_ed25519_selector": ED25519_SELECTOR}
        update.setdefault("dkim_ed25519_key_file", None)
        if "dkim_ed25519_key_file" not in keys:
            update["dkim_ed25519_selector"] = ""
        with pytest.raises(ConfigurationError, match=error):
            DkimSigner.from_settings(settings.model_copy(update={**update, **keys}))


def test_a_bad_key_is_one_line_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_sink: SmtpSink) -> None:
    use_embedded_defaults(tmp_path, monkeypatch)
    garbage = tmp_path / "dkim.pem"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    env = {"NEWSBOT_SMTP_URL": smtp_sink.url, "NEWSBOT_DKIM_KEY_FILE": str(garbage), "NEWSBOT_DKIM_SELECTOR": SELECTOR}
    result = CliRunner().invoke(app, ["deliver"], env=env)
    assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stderr + result.stdout
    (line,) = result.stderr.splitlines()
    assert line.startswith("newsbot: error: ") and "NEWSBOT_DKIM_KEY_FILE is not a PEM private key" in line, line
    assert smtp_sink.connections_opened == 0
