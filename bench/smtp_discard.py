"""A minimal SMTP server on 127.0.0.1 that accepts every message and keeps none: the mail benchmark's relay.

Run by bench/email_fanout.py in its own process. It answers as little as a relay must (EHLO with 8BITMIME and
SMTPUTF8, MAIL, RCPT, DATA, RSET, NOOP, QUIT), so the client, not the sink, is what gets measured.
"""

from __future__ import annotations

import asyncio
import sys


class DiscardSession(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""
        self.in_data = False
        self.transport.write(b"220 127.0.0.1 discard ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    # keep only a tail long enough to find the terminator across reads
                    self.buffer = self.buffer[-4:]
                    return
                self.buffer = self.buffer[end + 5 :]
                self.in_data = False
                self.accepted()
                self.transport.write(b"250 2.0.0 queued\r\n")
                continue
            line_end = self.buffer.find(b"\r\n")
            if line_end < 0:
                return
            line, self.buffer = self.buffer[:line_end], self.buffer[line_end + 2 :]
            verb = line[:4].upper()
            self.transport.write(self.reply(verb))
            if verb == b"QUIT":
                self.transport.close()
                return

    def accepted(self) -> None:
        """A message was accepted (a sink that counts or times messages overrides this)."""

    def reply(self, verb: bytes) -> bytes:
        if verb in (b"EHLO", b"HELO"):
            return b"250-127.0.0.1\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 52428800\r\n"
        if verb == b"DATA":
            self.in_data = True
            return b"354 end with .\r\n"
        if verb == b"QUIT":
            return b"221 bye\r\n"
        return b"250 ok\r\n"


async def serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(DiscardSession, "127.0.0.1", 0)
    print(f"smtp://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(serve())
    except ImportError:
        asyncio.run(serve())
    except KeyboardInterrupt:
        sys.exit(0)
