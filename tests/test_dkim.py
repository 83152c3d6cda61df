"""DKIM: every email is signed when a key and selector are set, and the signature verifies with dkimpy.

The public key is served by a ``dnsfunc`` instead of DNS, so nothing leaves the machine.
"""

from __future__ import annotations

import base64
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.app.config import Settings, load_settings
from bot.app.errors import ConfigurationError
from bot.app.newsroom import Newsroom
from bot.channels.smtp import SmtpChannel
from bot.readers.email_signup import request_email_confirmation
from bot.rendering.email_message import EmailTemplate
from bot.rendering.renderer import PREFERENCES_URL_SENTINEL, UNSUBSCRIBE_URL_SENTINEL, CompiledEmail
from tests.email_readers import assert_bulk_mail_headers, parse_mail
from tests.fakes import SmtpSink

SELECTOR = "news2026"


@pytest.fixture(scope="module")
def key_pair() -> tuple[bytes, bytes]:
    """A throwaway 2048-bit RSA key: (PEM private key, the TXT record that publishes its public half)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


@pytest.fixture
def signing(settings: Settings, key_pair: tuple[bytes, bytes], tmp_path: Path) -> Settings:
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(key_pair[0])
    return settings.model_copy(update={"dkim_key_file": key_file, "dkim_selector": SELECTOR})


def dns_for(record: bytes):  # type: ignore[no-untyped-def]
    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == f"{SELECTOR}._domainkey.fairview-gazette.example.".encode() else None

    return lookup


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


def test_each_message_carries_its_own_signature_covering_both_list_unsubscribe_headers(
    signing: Settings, key_pair: tuple[bytes, bytes]
) -> None:
    template = story_template(signing)
    first, second = personal(template, 1), personal(template, 2)
    for message in (first, second):
        assert message.startswith(b"DKIM-Signature: ")
        assert dkim.verify(message, dnsfunc=dns_for(key_pair[1]))
    signature = parse_mail(first)["DKIM-Signature"]
    tags = dict(tag.strip().split("=", 1) for tag in str(signature).replace("\r\n", "").split(";") if "=" in tag)
    assert tags["d"] == "fairview-gazette.example" and tags["s"] == SELECTOR and tags["a"] == "rsa-sha256"
    signed = {name.strip().lower() for name in tags["h"].split(":")}
    assert {"from", "to", "subject", "list-unsubscribe", "list-unsubscribe-post", "list-id", "message-id"} <= signed
    assert_bulk_mail_headers(parse_mail(first), "reader1@example.org")


def test_a_tampered_unsubscribe_header_or_body_fails_verification(
    signing: Settings, key_pair: tuple[bytes, bytes]
) -> None:
    message = personal(story_template(signing), 1)
    swapped = message.replace(b"unsubscribe/token-1>", b"unsubscribe/token-9>", 1)
    assert swapped != message and not dkim.verify(swapped, dnsfunc=dns_for(key_pair[1]))
    post = message.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: nothing")
    assert post != message and not dkim.verify(post, dnsfunc=dns_for(key_pair[1]))
    body = message.replace(b"Budget.", b"Budgie.")
    assert body != message and not dkim.verify(body, dnsfunc=dns_for(key_pair[1]))


async def test_mail_received_over_smtp_verifies(
    signing: Settings, key_pair: tuple[bytes, bytes], smtp_sink: SmtpSink
) -> None:
    channel = SmtpChannel(smtp_sink.url, signing.mail_from)
    async with await Newsroom.open(signing) as newsroom:
        await request_email_confirmation(newsroom, channel, address="reader@example.org", topics=["local"])
    await channel.aclose()
    (received,) = smtp_sink.messages
    assert dkim.verify(received.data, dnsfunc=dns_for(key_pair[1]))


def test_without_key_and_selector_nothing_is_signed(settings: Settings) -> None:
    assert not personal(story_template(settings), 1).startswith(b"DKIM-Signature")


def test_dkim_settings_go_together_and_the_key_must_be_a_private_key(settings: Settings, tmp_path: Path) -> None:
    key_file = tmp_path / "dkim.pem"
    key_file.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigurationError, match="NEWSBOT_DKIM_KEY_FILE and NEWSBOT_DKIM_SELECTOR"):
        load_settings(dkim_key_file=key_file)
    with pytest.raises(ConfigurationError, match="NEWSBOT_DKIM_KEY_FILE"):
        load_settings(dkim_key_file=tmp_path / "missing.pem", dkim_selector=SELECTOR)
    with pytest.raises(ConfigurationError, match="NEWSBOT_DKIM_SELECTOR"):
        load_settings(dkim_key_file=key_file, dkim_selector="bad selector!")
    garbage = settings.model_copy(update={"dkim_key_file": key_file, "dkim_selector": SELECTOR})
    with pytest.raises(ConfigurationError, match="not a PEM RSA private key"):
        story_template(garbage)
