"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives and fails on request.

The SMTP channel is tested against a real protocol peer, so pipelining, RSET after a refusal, 421 on
reconnect and dot-stuffing are the real thing rather than a mock's idea of them. The controller runs
the server in its own thread with its own event loop, so a plain `with SmtpSink() as sink:` works in
both sync and async tests.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any, NamedTuple

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class ReceivedMessage(NamedTuple):
    mail_from: str
    rcpt_tos: list[str]
    data: bytes  # as received, with CRLF line endings and dot-stuffing undone


class SmtpSink:
    """aiosmtpd on a free loopback port; `url` is ready for `SmtpChannel` or `Settings.smtp_url`.

    Inspection: `messages` (mail_from, rcpt_tos, raw bytes), `mail_options` (the MAIL FROM parameters of
    each of those messages, e.g. BODY=8BITMIME), `connections_opened`, `quits` (polite goodbyes).
    Injection: `refuse_recipient` (5xx at RCPT), `defer_recipient` (4xx at RCPT), `reject_data`
    (an error after DATA), `drop_connections_after` (the relay hangs up on a connection after n messages).
    """

    def __init__(self, port: int = 0) -> None:
        """*port* 0 takes a free one; a relay that "comes back" is a new sink on the port of a stopped one."""
        self.messages: list[ReceivedMessage] = []
        self.mail_options: list[list[str]] = []
        self.connections_opened = 0
        self.quits = 0
        self._recipient_replies: dict[str, str] = {}
        self._data_reply: str | None = None
        self._drop_after: int | None = None
        self._drop_immediately = False
        self._lock = threading.Lock()
        self._queue_ids = itertools.count(1)
        self._controller = _Controller(self, hostname="127.0.0.1", port=port, server_hostname="127.0.0.1")

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._controller.port

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> SmtpSink:
        self._controller.start()
        self.connections_opened = 0  # the controller's own readiness probe is not a client
        return self

    def stop(self) -> None:
        """Stop listening (a relay going down); stopping a stopped sink does nothing."""
        if self._controller._thread is not None:
            self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- injection ---------------------------------------------------------------------------------

    def refuse_recipient(self, address: str, code: int = 550, text: str = "5.1.1 user unknown") -> None:
        """Answer RCPT TO for this address with a permanent error."""
        self._recipient_replies[address.lower()] = f"{code} {text}"

    def defer_recipient(self, address: str, code: int = 451, text: str = "4.2.0 try again later") -> None:
        """Answer RCPT TO for this address with a temporary error."""
        self._recipient_replies[address.lower()] = f"{code} {text}"

    def reject_data(self, code: int = 554, text: str = "5.6.0 message content rejected") -> None:
        """Answer the end of DATA with this error (until cleared with `reject_data(0)`)."""
        self._data_reply = f"{code} {text}" if code else None

    def drop_connections_after(self, n: int | None, *, immediately: bool = False) -> None:
        """Hang up on each connection after it has carried `n` messages.

        By default the relay says "421" and closes when the client starts the next transaction, as a
        relay does on idle timeout, so the client only finds out when it tries to reuse the connection.
        With `immediately`, the connection is closed right after the n-th message is accepted.
        """
        self._drop_after = n
        self._drop_immediately = immediately

    # -- inspection --------------------------------------------------------------------------------

    def received_by(self, address: str) -> list[bytes]:
        return [message.data for message in self.messages if address in message.rcpt_tos]

    # -- aiosmtpd handler hooks (run in the controller's thread) ------------------------------------

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if self._drop_after is not None and getattr(session, "sink_delivered", 0) >= self._drop_after:
            server.loop.call_soon(_close, server)
            return "421 4.4.2 127.0.0.1 closing connection"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self._recipient_replies.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self._data_reply is not None:
            return self._data_reply
        data = envelope.original_content or b""
        with self._lock:
            self.messages.append(ReceivedMessage(envelope.mail_from or "", list(envelope.rcpt_tos), data))
            self.mail_options.append(list(envelope.mail_options))
            queue_id = next(self._queue_ids)
        delivered = session.sink_delivered = getattr(session, "sink_delivered", 0) + 1  # type: ignore[attr-defined]
        if self._drop_immediately and self._drop_after is not None and delivered >= self._drop_after:
            server.loop.call_soon(_close, server)
        return f"250 2.0.0 Ok: queued as SINK{queue_id:06d}"

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.quits += 1
        return "221 Bye"


def _close(server: SMTP) -> None:
    if server.transport is not None:
        server.transport.close()


class _Controller(Controller):
    """Binds port 0 and reads the real port back, so parallel test runs never collide on a port."""

    def __init__(self, sink: SmtpSink, **kwargs: Any) -> None:
        super().__init__(sink, **kwargs)
        self._sink = sink

    def factory(self) -> SMTP:
        self._sink.connections_opened += 1
        return super().factory()

    def _trigger_server(self) -> None:
        assert self.server is not None and self.server.sockets
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()
