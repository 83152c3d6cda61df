"""The MIME message for one compiled email (a story, a digest), built once and personalised per reader in microseconds.

Generating a message with the `email` package costs milliseconds, which adds up to minutes for a large list.
`EmailTemplate` uses the package once to produce the headers and MIME skeleton (so encoding and folding of the
subject, sender and list headers stay the package's job), then cuts it into byte slices around the per-reader
slots. The two bodies are quoted-printable encoded once too, in pieces split at the personal-link sentinels; each
piece before a link ends in a soft line break, so a reader's links (encoded with the C-level `binascii.b2a_qp`)
drop in between without re-encoding kilobytes of HTML per reader. Soft breaks decode to nothing, so the decoded
bodies are the compiled ones with the links substituted (and a final newline).
"""

from __future__ import annotations

import binascii
import html
import re
import time
import uuid
from datetime import UTC, datetime
from email.errors import NonASCIILocalPartDefect
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime, formataddr

from bot.app.config import Settings
from bot.app.errors import InvalidSubscriber
from bot.rendering.renderer import PREFERENCES_URL_SENTINEL, UNSUBSCRIBE_URL_SENTINEL, CompiledEmail

_SLOT_HEADER = "X-Newsbot-Recipient-Slot"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ADDR_SPEC = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
#: Addresses that are already valid header text as given: a bare address, or one behind a plain-word name.
_PLAIN_ADDRESS = re.compile(rf"(?:{_ADDR_SPEC}|[A-Za-z0-9][A-Za-z0-9 ]* <{_ADDR_SPEC}>)\Z")
#: http(s) URLs of printable ASCII without space, quote or angle brackets: safe inside <...> in a header.
_HEADER_URL = re.compile(r"https?://[!#-;=?-~]+\Z")
_HEADER_TOKEN = re.compile(r"[!-~][ !-~]*\Z")
_SENTINELS = re.compile(f"({re.escape(UNSUBSCRIBE_URL_SENTINEL)}|{re.escape(PREFERENCES_URL_SENTINEL)})")


def _one_line(value: str) -> str:
    """Collapse all whitespace, CR and LF included, so a value cannot start a new header."""
    return " ".join(value.split())


def _crlf(text: str) -> str:
    """Normalise line endings to CRLF and end with one, which also puts `b2a_qp` in CRLF mode."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    return text.replace("\n", "\r\n")


def _qp(text: str) -> bytes:
    raw = text.encode("utf-8")
    encoded = binascii.b2a_qp(raw, istext=True)
    # b2a_qp writes its soft breaks with a bare LF unless the input's first line ending is CRLF.
    return encoded if b"\n" in raw else encoded.replace(b"\n", b"\r\n")


def _qp_open(text: str) -> bytes:
    """*text* encoded and ending in a soft line break, so whatever follows starts a fresh line of <= 76."""
    encoded = _qp(text)
    start = encoded.rfind(b"\n") + 1
    if len(encoded) - start > 75:
        cut = start + 72
        escape = encoded.rfind(b"=", cut - 2, cut)
        if escape != -1:
            cut = escape
        encoded = encoded[:cut] + b"=\r\n" + encoded[cut:]
    return encoded + b"=\r\n"


def _encoded_pieces(body: str) -> list[bytes | str]:
    """The body, quoted-printable encoded, as static byte pieces and the sentinel strings between them."""
    parts = _SENTINELS.split(_crlf(body))
    pieces: list[bytes | str] = []
    for index, part in enumerate(parts):
        if index % 2:
            pieces.append(part)
        elif part:
            pieces.append(_qp_open(part) if index < len(parts) - 1 else _qp(part))
    return pieces


def _header_url(url: str) -> str:
    if not _HEADER_URL.match(url):
        raise ValueError(f"refusing to put {url!r} in a header: expected a plain http(s) URL")
    return url


def _header_token(name: str, value: str) -> str:
    if not _HEADER_TOKEN.match(value):
        raise ValueError(f"refusing {name} value {value!r}: it must be one line of printable ASCII")
    return value


def _to_header(to: str) -> bytes:
    """The ``To:`` line for *to* (an address, optionally with a display name); refuses anything else.

    CR, LF and other control characters are refused outright: the `email` package would pass them through.
    """
    if _CONTROL.search(to):
        raise InvalidSubscriber(f"cannot send to {to!r}: the address contains line breaks or control characters")
    if _PLAIN_ADDRESS.match(to):
        return b"To: " + to.encode("ascii") + b"\r\n"
    header = SMTP.header_factory("To", to)
    problems = [defect for defect in header.defects if not isinstance(defect, NonASCIILocalPartDefect)]
    if problems or len(header.addresses) != 1 or not header.addresses[0].domain:
        raise InvalidSubscriber(f"cannot send to {to!r}: not a single valid email address")
    address = header.addresses[0]
    try:
        domain = address.domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidSubscriber(f"cannot send to {to!r}: the domain is not valid") from None
    mailbox = Address(address.display_name, address.username, domain)
    if address.username.isascii():
        return SMTP.header_factory("To", str(mailbox)).fold(policy=SMTP).encode("ascii")
    # A non-ASCII local part can only travel raw, over SMTPUTF8.
    return SMTPUTF8.header_factory("To", str(mailbox)).fold(policy=SMTPUTF8).encode("utf-8")


class EmailTemplate:
    """One compiled email as a reusable MIME skeleton; call `for_recipient` once per reader.

    A *transactional* email (the double opt-in mail: one message a person asked for, not a list's) carries no
    List-* or Precedence headers, so mailbox providers neither file it with newsletters nor offer to unsubscribe
    from a list the person has not joined yet.
    """

    def __init__(self, compiled: CompiledEmail, settings: Settings, *, transactional: bool = False) -> None:
        self.domain = settings.mail_domain
        self.transactional = transactional
        self.subject = _one_line(compiled.subject)
        boundary = f"=_newsbot_{uuid.uuid4().hex}"
        text_mark = f"NEWSBOT-TEXT-BODY-{uuid.uuid4().hex}"
        html_mark = f"NEWSBOT-HTML-BODY-{uuid.uuid4().hex}"
        slot_mark = uuid.uuid4().hex

        message = EmailMessage(policy=SMTP)
        message["From"] = _one_line(settings.mail_from)
        message["Reply-To"] = _one_line(settings.reply_to or settings.mail_from)
        message[_SLOT_HEADER] = slot_mark
        message["Subject"] = self.subject
        if not transactional:
            message["List-Id"] = formataddr((_one_line(settings.outlet_name), f"newsletter.{self.domain}"))
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            message["Precedence"] = "bulk"
        message["MIME-Version"] = "1.0"
        message.make_alternative()
        for mark, subtype in ((text_mark, "plain"), (html_mark, "html")):
            part = MIMEPart(policy=SMTP)
            part.set_content(mark, subtype=subtype, charset="utf-8", cte="quoted-printable")
            message.attach(part)
        message.set_boundary(boundary)
        skeleton = message.as_bytes(policy=SMTP)

        head, rest = skeleton.split(f"{_SLOT_HEADER}: {slot_mark}\r\n".encode("ascii"))
        middle, rest = rest.split(f"{text_mark}\r\n".encode("ascii"))
        between, tail = rest.split(f"{html_mark}\r\n".encode("ascii"))
        self._head, self._middle, self._between, self._tail = head, middle, between, tail
        self._text = _encoded_pieces(compiled.text)
        self._html = _encoded_pieces(compiled.html)
        self._mailto = f"<mailto:unsubscribe@{self.domain}?subject=unsubscribe>"
        self._date_second = -1
        self._date = ""

    def _now(self) -> str:
        """RFC 5322 date, formatted at most once a second."""
        second = int(time.time())
        if second != self._date_second:
            self._date_second, self._date = second, format_datetime(datetime.fromtimestamp(second, UTC))
        return self._date

    def for_recipient(
        self,
        *,
        to: str,
        unsubscribe_url: str,
        preferences_url: str,
        message_id: str | None = None,
        date: str | None = None,
    ) -> bytes:
        """The complete message for one reader, as RFC 5322 bytes with CRLF line endings, not yet DKIM-signed.

        The SMTP channel signs it on its way out (`bot.rendering.dkim_signing`), off the event loop.

        Raises `InvalidSubscriber` for an unusable address and ValueError for a link or header value that could
        break out of its header.
        """
        to_line = _to_header(to)
        unsubscribe_url = _header_url(unsubscribe_url)
        preferences_url = _header_url(preferences_url)
        if message_id is None:
            message_id = f"<{uuid.uuid4().hex}@{self.domain}>"
        else:
            message_id = _header_token("Message-ID", message_id.strip())
            if not message_id.startswith("<"):
                message_id = f"<{message_id}>"
        date = self._now() if date is None else _header_token("Date", date.strip())
        recipient_headers = f"Date: {date}\r\nMessage-ID: {message_id}\r\n"
        if not self.transactional:
            recipient_headers += f"List-Unsubscribe: <{unsubscribe_url}>,\r\n {self._mailto}\r\n"
        text_links = {
            UNSUBSCRIBE_URL_SENTINEL: _qp_open(unsubscribe_url),
            PREFERENCES_URL_SENTINEL: _qp_open(preferences_url),
        }
        html_links = {
            UNSUBSCRIBE_URL_SENTINEL: _qp_open(html.escape(unsubscribe_url)),
            PREFERENCES_URL_SENTINEL: _qp_open(html.escape(preferences_url)),
        }
        return b"".join(
            (
                self._head,
                to_line,
                recipient_headers.encode("ascii"),
                self._middle,
                *[text_links[p] if isinstance(p, str) else p for p in self._text],
                self._between,
                *[html_links[p] if isinstance(p, str) else p for p in self._html],
                self._tail,
            )
        )
