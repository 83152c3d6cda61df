"""Email delivery over SMTP with a small pool of reused aiosmtplib connections.

Pre-built message bytes go out untouched through `sendmail`, so what the renderer produced (and what a
test compares) is exactly what the relay receives, apart from SMTP's own CRLF and dot-stuffing and, with a DKIM
key configured, the DKIM-Signature headers put in front on the signing threads just before the send.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass
from email.utils import parseaddr
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from aiosmtplib import (
    SMTP,
    SMTPException,
    SMTPHeloError,
    SMTPNotSupported,
    SMTPRecipientRefused,
    SMTPRecipientsRefused,
    SMTPResponseException,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)
from aiosmtplib.protocol import normalize_message_line_endings

from bot.channels import failures
from bot.channels.base import OutgoingMessage, Receipt
from bot.rendering.dkim_signing import DkimSigner

if TYPE_CHECKING:
    from bot.app.config import Settings

_DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
#: RCPT replies that mean "this mailbox does not exist", RFC 5321 section 4.2.3.
_GONE_CODES = frozenset({550, 551, 553})
#: Enhanced status codes 5.7.x are policy (relaying denied, blocked sender): the mailbox may be fine.
_POLICY = re.compile(r"^\s*5\.7\.\d+")


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    """Where and how to connect, parsed from an `smtp://`, `smtp+starttls://` or `smtps://` URL."""

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @property
    def use_tls(self) -> bool:
        return self.scheme == "smtps"

    @property
    def start_tls(self) -> bool:
        return self.scheme == "smtp+starttls"

    def __str__(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"{self.scheme}://{user}{self.host}:{self.port}"


def parse_smtp_url(url: str) -> SmtpTarget:
    """Parse an SMTP URL; credentials are URL-decoded so passwords may contain `@`, `:` or `/`."""
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS:
        raise ValueError(f"unsupported SMTP URL scheme {parts.scheme!r} (use smtp, smtp+starttls or smtps)")
    if not parts.hostname:
        raise ValueError("SMTP URL has no host")
    return SmtpTarget(
        scheme=parts.scheme,
        host=parts.hostname,
        port=parts.port or _DEFAULT_PORTS[parts.scheme],
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def bare_address(mail_from: str) -> str:
    """The envelope sender: "Name <a@b>" becomes "a@b"."""
    address = parseaddr(mail_from)[1]
    if "@" not in address:
        raise ValueError(f"mail_from has no usable address: {mail_from!r}")
    return address


class SmtpChannel:
    """Sends pre-built messages through an SMTP relay, reusing up to `connections` connections.

    The pool is an `asyncio.LifoQueue` holding one slot per connection: a connected client, or `None` for
    a slot whose connection has not been opened yet (or was dropped). Taking a slot bounds concurrency, so
    no more than `connections` sessions are ever open against the relay; LIFO keeps reusing the warm
    connection when sends are sequential, so extra connections are only opened under real concurrency.
    """

    name = "email"

    def __init__(
        self,
        url: str,
        mail_from: str,
        *,
        connections: int = 1,
        timeout: float = 30,
        local_hostname: str | None = None,
        signer: DkimSigner | None = None,
    ) -> None:
        if connections < 1:
            raise ValueError("connections must be at least 1")
        self.target = parse_smtp_url(url)
        self.sender = bare_address(mail_from)
        self.timeout = timeout
        # EHLO with the sender's domain rather than socket.getfqdn(): no reverse-DNS lookup per
        # connection and no leak of the machine's host name to the relay.
        self.local_hostname = local_hostname or self.sender.rsplit("@", 1)[1]
        self.signer = signer
        self.description = f"email: SMTP {self.target}" + (" (DKIM-signed)" if signer else "")
        self._pool: asyncio.LifoQueue[SMTP | None] = asyncio.LifoQueue()
        for _ in range(connections):
            self._pool.put_nowait(None)

    @classmethod
    def from_settings(cls, settings: Settings, *, connections: int | None = None) -> SmtpChannel:
        """The relay of `NEWSBOT_SMTP_URL` with `NEWSBOT_SMTP_CONNECTIONS` pooled connections, signing with the
        configured DKIM keys (a key that cannot be read or parsed raises `ConfigurationError` here, at start-up)."""
        return cls(
            settings.smtp_url,
            settings.mail_from,
            connections=connections or settings.smtp_connections,
            signer=DkimSigner.from_settings(settings),
        )

    async def send(self, message: OutgoingMessage) -> Receipt:
        if message.action != "send":
            # A mail that was delivered cannot be changed or taken back; a correction is a new, short mail.
            raise failures.PermanentFailure(f"email cannot {message.action} a message already sent")
        content = message.content if isinstance(message.content, bytes) else message.content.encode()
        if self.signer is not None:
            # Before taking a connection: while this message is being signed, the others keep the pool busy.
            try:
                content = await self.signer.signed(content)
            except ValueError as exc:  # no From, or no blank line after the headers: not mail we can vouch for
                raise failures.PermanentFailure(f"DKIM: {exc}") from exc
        client = await self._pool.get()
        try:
            reused = client is not None and client.is_connected
            if not reused:
                client = await self._reconnect(client)
            assert client is not None
            try:
                reply = await self._transaction(client, message.address, content)
            except (SMTPServerDisconnected, SMTPResponseException) as exc:
                if not (reused and _dropped(exc, client)):
                    raise
                # The relay dropped this pooled connection while it sat idle (timeout, or a 421 before
                # closing): one retry on a fresh connection, unnoticed by the caller.
                client = await self._reconnect(client)
                reply = await self._transaction(client, message.address, content)
            return Receipt(provider_id=reply)
        except (SMTPResponseException, SMTPRecipientsRefused) as exc:
            # The server answered (and aiosmtplib sent RSET): the session stays usable.
            raise translate_error(exc) from exc
        except SMTPException as exc:
            _discard(client)
            client = None
            raise translate_error(exc) from exc
        except (OSError, TimeoutError) as exc:
            _discard(client)
            client = None
            raise failures.ChannelUnreachable(f"smtp connection error: {exc or type(exc).__name__}") from exc
        except failures.DeliveryFailed:
            raise
        except BaseException:
            # Cancelled mid-command: the session state is unknown, so never hand it to the next send.
            _discard(client)
            client = None
            raise
        finally:
            self._pool.put_nowait(client if client is not None and client.is_connected else None)

    async def aclose(self) -> None:
        """QUIT every idle pooled connection; slots stay usable, so a later send reconnects.

        Call it once in-flight sends have finished: a connection still in use is not in the pool.
        """
        idle = [self._pool.get_nowait() for _ in range(self._pool.qsize())]
        for _ in idle:
            self._pool.put_nowait(None)
        for client in idle:
            if client is not None and client.is_connected:
                with contextlib.suppress(SMTPException, OSError, TimeoutError):
                    await client.quit(timeout=min(self.timeout, 5))
            _discard(client)

    async def _reconnect(self, stale: SMTP | None) -> SMTP:
        _discard(stale)
        target = self.target
        client = SMTP(
            hostname=target.host,
            port=target.port,
            username=target.username,
            password=target.password,
            use_tls=target.use_tls,
            start_tls=target.start_tls,
            timeout=self.timeout,
            local_hostname=self.local_hostname,
        )
        try:
            await client.connect()
            if client.is_ehlo_or_helo_needed:
                # Plain connections skip EHLO until the first command; the extensions are needed earlier,
                # to decide on BODY=8BITMIME and SMTPUTF8.
                try:
                    await client.ehlo()
                except SMTPHeloError:
                    await client.helo()
        except SMTPException as exc:
            # Greeting, TLS, EHLO or AUTH trouble is about the relay, never about this message.
            _discard(client)
            raise failures.ChannelUnreachable(f"smtp connect to {target.host}:{target.port}: {_describe(exc)}") from exc
        except (OSError, TimeoutError) as exc:
            _discard(client)
            detail = "timeout" if isinstance(exc, TimeoutError) else exc.strerror or str(exc) or repr(exc)
            raise failures.ChannelUnreachable(f"smtp connect to {target.host}:{target.port}: {detail}") from exc
        return client

    async def _transaction(self, client: SMTP, recipient: str, content: bytes) -> str:
        """MAIL, RCPT and DATA for one message, as `SMTP.sendmail` does them, less its repeated work.

        `sendmail` parses both addresses twice and, for the SIZE parameter, runs a regular expression over the
        whole message that DATA then runs again: about a fifth of the client's CPU per message. The addresses are
        parsed once (by MAIL and RCPT), and SIZE is the message's length when its line endings are already CRLF,
        as every message newsbot builds has them.
        """
        options = []
        if client.supports_extension("8bitmime") and not content.isascii():
            options.append("BODY=8BITMIME")
        encoding = "ascii"
        if not (self.sender.isascii() and recipient.isascii()) and client.supports_extension("smtputf8"):
            options.append("SMTPUTF8")
            encoding = "utf-8"
        if client.supports_extension("size"):
            options.insert(0, f"SIZE={_wire_size(content)}")
        try:
            await client.mail(self.sender, options=options, encoding=encoding)
            await client.rcpt(recipient, encoding=encoding)
            reply = await client.data(content)
        except ValueError as exc:  # aiosmtplib refuses addresses it cannot put on the wire safely
            await _reset(client)
            raise failures.RecipientGone(f"smtp: invalid recipient address {recipient!r}") from exc
        except SMTPResponseException:
            await _reset(client)  # the envelope is open: clear it for the next message on this connection
            raise
        return reply.message


def _wire_size(content: bytes) -> int:
    """The message's size as DATA transmits it (RFC 1870), without a regular-expression pass when it is all CRLF."""
    lines = content.count(b"\n")
    if lines == content.count(b"\r") == content.count(b"\r\n") and content.endswith(b"\r\n"):
        return len(content)
    return len(normalize_message_line_endings(content))


async def _reset(client: SMTP) -> None:
    # Disconnected, or the relay refuses RSET too: the caller's error says more than this one would (as sendmail).
    with contextlib.suppress(ConnectionError, SMTPResponseException):
        await client.rset()


def translate_error(exc: SMTPException) -> failures.DeliveryFailed:
    """Map an aiosmtplib error onto the channel contract, by reply code and the command that failed.

    421 ("service not available, closing channel"), a timeout or a dropped connection is about the relay, not the
    message: `ChannelUnreachable`, so the worker pauses email instead of spending every message's attempts.
    """
    if isinstance(exc, SMTPRecipientsRefused):
        exc = exc.recipients[0]
    if isinstance(exc, SMTPResponseException):
        reason = f"smtp {exc.code} {exc.message}"
        if exc.code == 421:
            return failures.ChannelUnreachable(reason)
        if 500 <= exc.code < 600:
            if isinstance(exc, SMTPRecipientRefused) and exc.code in _GONE_CODES and not _POLICY.match(exc.message):
                return failures.RecipientGone(reason)
            return failures.PermanentFailure(reason)
        return failures.TemporaryFailure(reason)
    if isinstance(exc, SMTPTimeoutError):
        return failures.ChannelUnreachable("timeout")
    if isinstance(exc, SMTPServerDisconnected):
        return failures.ChannelUnreachable(f"smtp disconnected: {exc.message}")
    if isinstance(exc, SMTPNotSupported):
        return failures.PermanentFailure(f"smtp: {exc.message}")
    return failures.TemporaryFailure(f"smtp error: {_describe(exc)}")


def _dropped(exc: Exception, client: SMTP) -> bool:
    return isinstance(exc, SMTPServerDisconnected) or (
        isinstance(exc, SMTPResponseException) and exc.code == 421 and not client.is_connected
    )


def _describe(exc: SMTPException) -> str:
    if isinstance(exc, SMTPResponseException):
        return f"{exc.code} {exc.message}"
    return exc.message or type(exc).__name__


def _discard(client: SMTP | None) -> None:
    if client is not None:
        client.close()
