"""SmtpChannel delivers pre-built bytes to a real SMTP server and maps its replies onto the contract."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY

import pytest

from bot.app.config import Settings
from bot.channels import (
    Channel,
    ChannelUnreachable,
    OutgoingMessage,
    PermanentFailure,
    RecipientGone,
    TemporaryFailure,
)
from bot.channels.smtp import SmtpChannel, SmtpTarget, bare_address, parse_smtp_url
from tests.fakes import SmtpSink

MAIL_FROM = "Fairview Gazette <newsletter@fairview-gazette.example>"


@pytest.fixture
async def channel(smtp_sink: SmtpSink) -> AsyncIterator[SmtpChannel]:
    channel = SmtpChannel(smtp_sink.url, MAIL_FROM, timeout=5)
    yield channel
    await channel.aclose()


def newsletter(to: str = "reader@example.org", body: str = "Good morning.\n") -> bytes:
    message = EmailMessage(policy=SMTP_POLICY)
    message["From"] = MAIL_FROM
    message["To"] = to
    message["Subject"] = "Morning briefing: café council votes"
    message.set_content(body, cte="8bit")
    return message.as_bytes()


def outgoing(address: str = "reader@example.org", key: str = "d-1", content: bytes | None = None) -> OutgoingMessage:
    return OutgoingMessage(key=key, address=address, content=content if content is not None else newsletter(address))


# --- URLs and addresses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("smtp://relay.example.org", SmtpTarget("smtp", "relay.example.org", 25)),
        ("smtp+starttls://relay.example.org", SmtpTarget("smtp+starttls", "relay.example.org", 587)),
        ("smtps://relay.example.org", SmtpTarget("smtps", "relay.example.org", 465)),
        ("smtp://127.0.0.1:2525", SmtpTarget("smtp", "127.0.0.1", 2525)),
        (
            "smtp+starttls://news%40outlet.example:p%40ss%3Aw%2Frd@relay.example.org:2587",
            SmtpTarget("smtp+starttls", "relay.example.org", 2587, "news@outlet.example", "p@ss:w/rd"),
        ),
    ],
)
def test_smtp_urls_give_scheme_host_default_port_and_decoded_credentials(url: str, target: SmtpTarget) -> None:
    assert parse_smtp_url(url) == target


def test_tls_mode_follows_the_scheme() -> None:
    assert (parse_smtp_url("smtps://h").use_tls, parse_smtp_url("smtps://h").start_tls) == (True, False)
    assert (parse_smtp_url("smtp+starttls://h").use_tls, parse_smtp_url("smtp+starttls://h").start_tls) == (False, True)
    assert (parse_smtp_url("smtp://h").use_tls, parse_smtp_url("smtp://h").start_tls) == (False, False)


@pytest.mark.parametrize("url", ["http://relay.example.org", "smtp://", "lmtp://relay.example.org"])
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        parse_smtp_url(url)


def test_the_description_shows_the_user_but_never_the_password() -> None:
    channel = SmtpChannel("smtps://news:secret@relay.example.org", MAIL_FROM)
    assert channel.description == "email: SMTP smtps://news@relay.example.org:465"


@pytest.mark.parametrize(
    ("mail_from", "address"),
    [
        (MAIL_FROM, "newsletter@fairview-gazette.example"),
        ('"Gazette, The" <news@example.org>', "news@example.org"),
        ("news@example.org", "news@example.org"),
    ],
)
def test_the_envelope_sender_is_the_bare_address(mail_from: str, address: str) -> None:
    assert bare_address(mail_from) == address


# --- delivery ----------------------------------------------------------------------------------------


async def test_it_satisfies_the_channel_contract(channel: SmtpChannel) -> None:
    assert isinstance(channel, Channel)
    assert channel.name == "email"


async def test_a_send_lands_byte_for_byte_with_the_bare_envelope_sender(
    channel: SmtpChannel, smtp_sink: SmtpSink
) -> None:
    content = newsletter(body="Good morning.\n.A line starting with a dot survives dot-stuffing.\nÉté.\n")
    receipt = await channel.send(outgoing(content=content))
    (received,) = smtp_sink.messages
    assert received.mail_from == "newsletter@fairview-gazette.example"
    assert received.rcpt_tos == ["reader@example.org"]
    assert received.data == content  # CRLF line endings and a final CRLF already, so nothing to normalise
    assert receipt.provider_id == "2.0.0 Ok: queued as SINK000001"


async def test_content_without_crlf_arrives_with_only_line_endings_normalised(
    channel: SmtpChannel, smtp_sink: SmtpSink
) -> None:
    content = b"Subject: bare LF\nTo: reader@example.org\n\nline one\nline two"
    await channel.send(outgoing(content=content))
    assert smtp_sink.messages[0].data == content.replace(b"\n", b"\r\n") + b"\r\n"


async def test_the_declared_size_is_what_data_transmits(channel: SmtpChannel, smtp_sink: SmtpSink) -> None:
    crlf = newsletter()
    bare = b"Subject: bare LF\nTo: reader@example.org\n\nline one\rline two"
    await channel.send(outgoing(content=crlf))
    await channel.send(outgoing(content=bare))
    sizes = [[option for option in options if option.startswith("SIZE=")] for options in smtp_sink.mail_options]
    assert sizes == [[f"SIZE={len(received.data)}"] for received in smtp_sink.messages]
    assert smtp_sink.messages[1].data == b"Subject: bare LF\r\nTo: reader@example.org\r\n\r\nline one\r\nline two\r\n"


async def test_8bit_content_and_utf8_addresses_are_declared_to_the_server(
    channel: SmtpChannel, smtp_sink: SmtpSink
) -> None:
    await channel.send(outgoing(content=b"Subject: ascii\r\n\r\nplain\r\n"))
    await channel.send(outgoing(content="Subject: 8bit\r\n\r\nÉté\r\n".encode()))
    await channel.send(outgoing("rédaction@example.org", content=b"Subject: utf8\r\n\r\nplain\r\n"))
    declared = [{option for option in options if not option.startswith("SIZE=")} for options in smtp_sink.mail_options]
    assert declared == [set(), {"BODY=8BITMIME"}, {"SMTPUTF8"}]
    assert smtp_sink.messages[2].rcpt_tos == ["rédaction@example.org"]


@pytest.mark.parametrize("code", [550, 551, 553])
async def test_an_unknown_mailbox_is_recipient_gone(channel: SmtpChannel, smtp_sink: SmtpSink, code: int) -> None:
    smtp_sink.refuse_recipient("gone@example.org", code, "5.1.1 user unknown")
    with pytest.raises(RecipientGone) as failure:
        await channel.send(outgoing("gone@example.org"))
    assert str(failure.value) == f"smtp {code} 5.1.1 user unknown"
    assert smtp_sink.messages == []


async def test_a_policy_refusal_is_not_mistaken_for_a_dead_mailbox(channel: SmtpChannel, smtp_sink: SmtpSink) -> None:
    smtp_sink.refuse_recipient("reader@example.org", 550, "5.7.1 relaying denied")
    with pytest.raises(PermanentFailure) as failure:
        await channel.send(outgoing())
    assert not isinstance(failure.value, RecipientGone)


async def test_a_deferred_recipient_is_a_temporary_failure(channel: SmtpChannel, smtp_sink: SmtpSink) -> None:
    smtp_sink.defer_recipient("busy@example.org", 451)
    with pytest.raises(TemporaryFailure) as failure:
        await channel.send(outgoing("busy@example.org"))
    assert str(failure.value) == "smtp 451 4.2.0 try again later"
    assert not isinstance(failure.value, ChannelUnreachable)  # about this mailbox, not the relay


async def test_a_relay_answering_421_on_a_fresh_connection_is_unreachable(
    channel: SmtpChannel, smtp_sink: SmtpSink
) -> None:
    smtp_sink.drop_connections_after(0)  # "421 closing connection" before the first message
    with pytest.raises(ChannelUnreachable) as failure:
        await channel.send(outgoing())
    assert failure.value.reason.startswith("smtp 421")


async def test_another_5xx_for_the_recipient_is_a_permanent_failure(channel: SmtpChannel, smtp_sink: SmtpSink) -> None:
    smtp_sink.refuse_recipient("reader@example.org", 554, "5.7.0 transaction failed")
    with pytest.raises(PermanentFailure) as failure:
        await channel.send(outgoing())
    assert not isinstance(failure.value, RecipientGone)


async def test_content_refused_after_data_is_a_permanent_failure(channel: SmtpChannel, smtp_sink: SmtpSink) -> None:
    smtp_sink.reject_data(554, "5.6.0 message content rejected")
    with pytest.raises(PermanentFailure) as failure:
        await channel.send(outgoing())
    assert str(failure.value) == "smtp 554 5.6.0 message content rejected"


async def test_a_4xx_after_data_is_a_temporary_failure(channel: SmtpChannel, smtp_sink: SmtpSink) -> None:
    smtp_sink.reject_data(452, "4.3.1 insufficient system storage")
    with pytest.raises(TemporaryFailure):
        await channel.send(outgoing())


async def test_the_connection_survives_a_refusal_and_carries_the_next_message(
    channel: SmtpChannel, smtp_sink: SmtpSink
) -> None:
    smtp_sink.refuse_recipient("gone@example.org")
    with pytest.raises(RecipientGone):
        await channel.send(outgoing("gone@example.org"))
    await channel.send(outgoing())
    assert len(smtp_sink.messages) == 1
    assert smtp_sink.connections_opened == 1


async def test_sequential_sends_reuse_one_connection(smtp_sink: SmtpSink) -> None:
    channel = SmtpChannel(smtp_sink.url, MAIL_FROM, connections=3)
    for n in range(5):
        await channel.send(outgoing(key=f"d-{n}"))
    await channel.aclose()
    assert (len(smtp_sink.messages), smtp_sink.connections_opened) == (5, 1)


@pytest.mark.parametrize("immediately", [False, True], ids=["421-on-next-mail", "closed-after-data"])
async def test_a_connection_the_server_dropped_is_transparently_replaced(
    channel: SmtpChannel, smtp_sink: SmtpSink, immediately: bool
) -> None:
    smtp_sink.drop_connections_after(1, immediately=immediately)
    receipts = [await channel.send(outgoing(key=f"d-{n}")) for n in range(3)]
    assert all(receipt.provider_id for receipt in receipts)
    assert len(smtp_sink.messages) == 3
    assert smtp_sink.connections_opened == 3


async def test_several_connections_carry_concurrent_sends(smtp_sink: SmtpSink) -> None:
    channel = SmtpChannel(smtp_sink.url, MAIL_FROM, connections=3, timeout=5)
    addresses = [f"reader{n}@example.org" for n in range(30)]
    await asyncio.wait_for(
        asyncio.gather(*(channel.send(outgoing(address, key=f"d-{n}")) for n, address in enumerate(addresses))),
        timeout=10,
    )
    await channel.aclose()
    assert sorted(rcpt for message in smtp_sink.messages for rcpt in message.rcpt_tos) == sorted(addresses)
    assert smtp_sink.connections_opened == 3


async def test_aclose_quits_every_pooled_connection(smtp_sink: SmtpSink) -> None:
    channel = SmtpChannel(smtp_sink.url, MAIL_FROM, connections=3)
    await asyncio.gather(*(channel.send(outgoing(key=f"d-{n}")) for n in range(3)))
    await channel.aclose()
    assert (smtp_sink.connections_opened, smtp_sink.quits) == (3, 3)


async def test_aclose_quits_pooled_connections_and_a_later_send_reconnects(
    channel: SmtpChannel, smtp_sink: SmtpSink
) -> None:
    await channel.send(outgoing())
    await channel.aclose()
    await channel.send(outgoing(key="d-2"))
    assert smtp_sink.connections_opened == 2


async def test_an_unreachable_relay_is_a_temporary_failure() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    channel = SmtpChannel(f"smtp://127.0.0.1:{closed_port}", MAIL_FROM, timeout=2)
    with pytest.raises(ChannelUnreachable) as failure:  # a TemporaryFailure that pauses the whole channel
        await channel.send(outgoing())
    assert failure.value.reason.startswith(f"smtp connect to 127.0.0.1:{closed_port}")
    await channel.aclose()


async def test_str_content_is_sent_as_utf8(channel: SmtpChannel, smtp_sink: SmtpSink) -> None:
    await channel.send(OutgoingMessage("d-1", "reader@example.org", "Subject: hi\r\n\r\nÉté\r\n"))
    assert smtp_sink.messages[0].data == "Subject: hi\r\n\r\nÉté\r\n".encode()


def test_from_settings_uses_the_smtp_url_and_sender(tmp_path: object) -> None:
    settings = Settings(smtp_url="smtp+starttls://relay.example.org", mail_from=MAIL_FROM, data_dir=tmp_path)
    channel = SmtpChannel.from_settings(settings)
    assert channel.target == SmtpTarget("smtp+starttls", "relay.example.org", 587)
    assert channel.sender == "newsletter@fairview-gazette.example"
    assert channel.local_hostname == "fairview-gazette.example"


async def test_the_pool_has_as_many_connections_as_newsbot_smtp_connections(
    smtp_sink: SmtpSink, tmp_path: object
) -> None:
    assert Settings().smtp_connections == 4
    settings = Settings(smtp_url=smtp_sink.url, mail_from=MAIL_FROM, data_dir=tmp_path, smtp_connections=2)
    channel = SmtpChannel.from_settings(settings)
    await asyncio.gather(*(channel.send(outgoing(f"r{n}@example.org", key=f"d-{n}")) for n in range(12)))
    assert smtp_sink.connections_opened == 2
    smtp_sink.drop_connections_after(1)  # the relay hangs up after every message now: the pool reconnects unnoticed
    await asyncio.gather(*(channel.send(outgoing(f"s{n}@example.org", key=f"e-{n}")) for n in range(6)))
    await channel.aclose()
    assert len(smtp_sink.messages) == 18
