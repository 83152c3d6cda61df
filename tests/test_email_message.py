from __future__ import annotations

import email
import email.policy
import email.utils
from email.message import EmailMessage
from pathlib import Path

import pytest

from bot.app.config import Settings
from bot.app.errors import InvalidSubscriber
from bot.rendering.email_message import EmailTemplate
from bot.rendering.renderer import PREFERENCES_URL_SENTINEL, UNSUBSCRIBE_URL_SENTINEL, CompiledEmail, Renderer
from bot.rendering.signed_links import LinkSigner
from bot.stories.story import Story
from bot.topics.taxonomy import Taxonomy, Topic

PUBLIC_URL = "https://news.example.org"
DOMAIN = "fairview-gazette.example"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        secret_key="test-secret-of-at-least-32-characters",
        public_url=PUBLIC_URL,
        reply_to="desk@fairview-gazette.example",
    )


@pytest.fixture
def signer() -> LinkSigner:
    return LinkSigner("test-secret-of-at-least-32-characters", PUBLIC_URL)


@pytest.fixture
def compiled(settings: Settings) -> CompiledEmail:
    renderer = Renderer(settings, Taxonomy([Topic("north-korea", "North Korea")]))
    story = Story(
        id="s1",
        title="Kim’s “big nuclear nation” — café talks résumé",
        body="Body.",
        summary="The president said he would “probably do something” with Kim. Ça va? Ünïcödé & <tags>.\n\n"
        + "A long second paragraph " * 20,
        topics=("north-korea",),
        url="https://fairview-gazette.example/nk?from=mail&x=1",
    )
    return renderer.compile_email(story)


@pytest.fixture
def template(compiled: CompiledEmail, settings: Settings) -> EmailTemplate:
    return EmailTemplate(compiled, settings)


def send(template: EmailTemplate, signer: LinkSigner, subscriber_id: int = 1, **changes: str) -> bytes:
    arguments = {
        "to": "reader@example.org",
        "unsubscribe_url": signer.unsubscribe_url(subscriber_id),
        "preferences_url": signer.preferences_url(subscriber_id),
    }
    arguments.update(changes)
    return template.for_recipient(**arguments)


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert not message.defects
    return message


def bodies(message: EmailMessage) -> tuple[str, str]:
    text_part, html_part = message.iter_parts()
    return text_part.get_content().replace("\r\n", "\n"), html_part.get_content().replace("\r\n", "\n")


def test_message_structure_and_headers(template: EmailTemplate, signer: LinkSigner) -> None:
    raw = send(template, signer)
    assert b"\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")
    message = parse(raw)
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    for part in parts:
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
    sender = message["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == ("Fairview Gazette", f"newsletter@{DOMAIN}")
    assert message["Reply-To"] == "desk@fairview-gazette.example"
    assert message["To"] == "reader@example.org"
    assert message["MIME-Version"] == "1.0"
    assert message["Message-ID"].startswith("<")
    assert message["Message-ID"].endswith(f"@{DOMAIN}>")
    assert email.utils.parsedate_to_datetime(message["Date"]).tzinfo is not None
    assert message["List-Id"] == f"Fairview Gazette <newsletter.{DOMAIN}>"
    assert message["Precedence"] == "bulk"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    list_unsubscribe = str(message["List-Unsubscribe"])
    assert f"<{PUBLIC_URL}/unsubscribe/" in list_unsubscribe
    assert f"<mailto:unsubscribe@{DOMAIN}?subject=unsubscribe>" in list_unsubscribe


def test_reply_to_defaults_to_sender(compiled: CompiledEmail, tmp_path: Path, signer: LinkSigner) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="test-secret-of-at-least-32-characters", public_url=PUBLIC_URL)
    message = parse(send(EmailTemplate(compiled, settings), signer))
    assert message["Reply-To"].addresses[0].addr_spec == f"newsletter@{DOMAIN}"


def test_lines_respect_rfc_limits(template: EmailTemplate, signer: LinkSigner) -> None:
    raw = send(template, signer)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert max(len(line) for line in head.split(b"\r\n")) <= 998
    assert max(len(line) for line in body.split(b"\r\n")) <= 76
    assert raw.isascii()


def test_bodies_decode_to_the_personalised_email(
    template: EmailTemplate, compiled: CompiledEmail, signer: LinkSigner
) -> None:
    unsubscribe, preferences = signer.unsubscribe_url(9), signer.preferences_url(9)
    text, html = bodies(parse(send(template, signer, unsubscribe_url=unsubscribe, preferences_url=preferences)))
    assert text == compiled.text.replace(UNSUBSCRIBE_URL_SENTINEL, unsubscribe).replace(
        PREFERENCES_URL_SENTINEL, preferences
    )
    expected_html = compiled.html.replace(UNSUBSCRIBE_URL_SENTINEL, unsubscribe).replace(
        PREFERENCES_URL_SENTINEL, preferences
    )
    assert html.rstrip("\n") == expected_html.rstrip("\n")


def test_links_with_ampersands_are_escaped_in_html_only(template: EmailTemplate, signer: LinkSigner) -> None:
    unsubscribe = f"{PUBLIC_URL}/unsubscribe/abc?x=1&y=2"
    text, html = bodies(parse(send(template, signer, unsubscribe_url=unsubscribe)))
    assert f"Unsubscribe: {unsubscribe}" in text
    assert 'href="https://news.example.org/unsubscribe/abc?x=1&amp;y=2"' in html


def test_non_ascii_survives_round_trip(template: EmailTemplate, signer: LinkSigner) -> None:
    message = parse(send(template, signer))
    assert message["Subject"] == "Kim’s “big nuclear nation” — café talks résumé"
    text, html = bodies(message)
    for fragment in ("“probably do something”", "Ça va?", "Ünïcödé"):
        assert fragment in text
        assert fragment in html
    assert "Ünïcödé & <tags>." in text
    assert "Ünïcödé &amp; &lt;tags&gt;." in html


def test_each_reader_gets_their_own_links(template: EmailTemplate, signer: LinkSigner) -> None:
    first, second = parse(send(template, signer, 101)), parse(send(template, signer, 202))
    assert first["Message-ID"] != second["Message-ID"]
    for message, subscriber_id in ((first, 101), (second, 202)):
        header_url = str(message["List-Unsubscribe"]).split("<", 1)[1].split(">", 1)[0]
        token = header_url.removeprefix(f"{PUBLIC_URL}/unsubscribe/")
        assert signer.verify("unsubscribe", token) == {"subscriber_id": subscriber_id}
        text, html = bodies(message)
        assert f"Unsubscribe: {header_url}" in text
        assert f'href="{header_url}"' in html
        assert UNSUBSCRIBE_URL_SENTINEL not in text + html
        assert PREFERENCES_URL_SENTINEL not in text + html
        preferences = text.split("Manage preferences: ", 1)[1].split()[0]
        token = preferences.removeprefix(f"{PUBLIC_URL}/preferences/")
        assert signer.verify("preferences", token) == {"subscriber_id": subscriber_id}


def test_explicit_message_id_and_date(template: EmailTemplate, signer: LinkSigner) -> None:
    date = "Tue, 14 Nov 2023 22:13:20 +0000"
    message = parse(send(template, signer, message_id=f"story-1.reader-2@{DOMAIN}", date=date))
    assert message["Message-ID"] == f"<story-1.reader-2@{DOMAIN}>"
    assert message["Date"] == date


def test_display_name_and_international_addresses(template: EmailTemplate, signer: LinkSigner) -> None:
    for to in ("City Desk <desk@example.org>", '"Desk, City" <desk@example.org>'):
        message = parse(send(template, signer, to=to))
        assert [address.addr_spec for address in message["To"].addresses] == ["desk@example.org"]
    message = parse(send(template, signer, to="Redacción Económica <redaccion@exámple.org>"))
    (address,) = message["To"].addresses
    assert (address.display_name, address.addr_spec) == ("Redacción Económica", "redaccion@xn--exmple-qta.org")


@pytest.mark.parametrize(
    "to",
    [
        "reader@example.org\r\nBcc: victim@example.org",
        "reader@example.org\nBcc: victim@example.org",
        "Reader\r\n <reader@example.org>",
        "one@example.org, two@example.org",
        "not an address",
    ],
)
def test_header_injection_through_the_address_is_refused(template: EmailTemplate, signer: LinkSigner, to: str) -> None:
    with pytest.raises(InvalidSubscriber):
        send(template, signer, to=to)


@pytest.mark.parametrize(
    "changes",
    [
        {"unsubscribe_url": f"{PUBLIC_URL}/unsubscribe/x\r\nBcc: victim@example.org"},
        {"unsubscribe_url": f"{PUBLIC_URL}/unsubscribe/x> <https://evil.example"},
        {"unsubscribe_url": "javascript:alert(1)"},
        {"preferences_url": f"{PUBLIC_URL}/preferences/x\nBcc: victim@example.org"},
        {"message_id": "<a@b>\r\nBcc: victim@example.org"},
        {"date": "Mon, 1 Jan 2024 00:00:00 +0000\r\nBcc: victim@example.org"},
    ],
)
def test_header_injection_through_links_and_ids_is_refused(
    template: EmailTemplate, signer: LinkSigner, changes: dict[str, str]
) -> None:
    with pytest.raises(ValueError):
        send(template, signer, **changes)


def test_line_breaks_in_subject_and_outlet_name_are_neutralised(tmp_path: Path, signer: LinkSigner) -> None:
    settings = Settings(
        data_dir=tmp_path,
        secret_key="test-secret-of-at-least-32-characters",
        public_url=PUBLIC_URL,
        outlet_name="Gazette\r\nBcc: x@y.example",
    )
    compiled = CompiledEmail(
        subject="Hello\r\nBcc: victim@example.org",
        html=f'<a href="{UNSUBSCRIBE_URL_SENTINEL}">Unsubscribe</a>',
        text=f"Unsubscribe: {UNSUBSCRIBE_URL_SENTINEL}\n",
    )
    message = parse(send(EmailTemplate(compiled, settings), signer))
    assert message["Bcc"] is None
    assert message["Subject"] == "Hello Bcc: victim@example.org"
    assert "\n" not in str(message["List-Id"])


def test_template_is_reusable_and_independent_of_reader_order(template: EmailTemplate, signer: LinkSigner) -> None:
    fixed = {
        "unsubscribe_url": f"{PUBLIC_URL}/unsubscribe/one",
        "preferences_url": f"{PUBLIC_URL}/preferences/one",
        "message_id": f"<m1@{DOMAIN}>",
        "date": "Mon, 01 Jan 2024 00:00:00 GMT",
    }
    first = send(template, signer, **fixed)
    send(template, signer, 2, to="other@example.org")
    assert send(template, signer, **fixed) == first
