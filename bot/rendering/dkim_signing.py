"""DKIM signatures (RFC 6376) on outgoing email, when NEWSBOT_DKIM_KEY_FILE and _SELECTOR are set.

Gmail and Yahoo want bulk mail authenticated, and RFC 8058 asks that both List-Unsubscribe headers be covered by
the signature, so a forwarder cannot swap in its own unsubscribe link. Every message gets an rsa-sha256 signature
and, with NEWSBOT_DKIM_ED25519_KEY_FILE and _SELECTOR, an ed25519-sha256 one as well (RFC 8463).

dkimpy signs in pure Python (about 7 ms a message, holding the interpreter). Here dkimpy's relaxed header and
simple body canonicalisation are kept, the hashes are hashlib's and the signatures OpenSSL's through
`cryptography`, which releases the GIL while it signs; `signed` runs all of it on signing threads, so the event loop
only queues the message and the signing overlaps with the SMTP traffic of other messages.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from dkim.canonicalization import Relaxed, Simple, compress_whitespace

from bot.app.config import Settings
from bot.app.errors import ConfigurationError

#: Headers covered by the signature (when present). From is required; the list headers are what RFC 8058 asks for.
SIGNED_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
)
_SIGNED = tuple(name.lower().encode("ascii") for name in SIGNED_HEADERS)
_BASE64_LINE = 74  # characters of the b= value per folded line (after " b=" on the first)
_WIDTH = 78  # RFC 5322's recommended line length
#: Signatures handed back to the loop in one wake-up at most (~2 ms of RSA): sends start while the rest are signed.
_BATCH = 8

_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[bytes]", Callable[[bytes], bytes], bytes]


class _Key:
    """One private key and what its signature header says about it (algorithm, selector)."""

    def __init__(self, setting: str, pem: bytes, selector: str, domain: str, *, ed25519_key: bool) -> None:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"{setting} is not a PEM private key: {_first_line(exc)}") from None
        if ed25519_key:
            if not isinstance(key, ed25519.Ed25519PrivateKey):
                raise ConfigurationError(f"{setting} is not an Ed25519 key (openssl genpkey -algorithm ed25519)")
            self._sign: Callable[[bytes], bytes] = key.sign
            algorithm = b"ed25519-sha256"
        else:
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ConfigurationError(f"{setting} is not an RSA key (openssl genrsa -out dkim.pem 2048)")
            if key.key_size < 1024:
                raise ConfigurationError(f"{setting} is a {key.key_size}-bit RSA key; receivers want 2048 bits")
            self._sign = functools.partial(key.sign, padding=padding.PKCS1v15(), algorithm=Prehashed(hashes.SHA256()))
            algorithm = b"rsa-sha256"
        self.selector = selector
        self._tags = [b"v=1;", b"a=" + algorithm + b";", b"c=relaxed/simple;", b"d=" + domain.encode("idna") + b";"]
        self._tags.append(b"s=" + selector.encode("ascii") + b";")
        self._layouts: dict[tuple[bytes, ...], tuple[bytes, bytes]] = {}

    def _layout(self, names: tuple[bytes, ...]) -> tuple[bytes, bytes]:
        """The header's fixed part for these signed header names: folded, and as relaxed canonicalisation has it.

        A story's messages all carry the same headers, so this is computed once, not per message.
        """
        layout = self._layouts.get(names)
        if layout is None:
            folded = _folded(self._tags, names)
            ((_name, canonical),) = Relaxed.canonicalize_headers([(b"DKIM-Signature", folded)])
            layout = self._layouts[names] = (b"DKIM-Signature: " + folded + b"\r\n ", canonical.rstrip(b"\r\n"))
        return layout

    def header(self, signed_headers: bytes, names: tuple[bytes, ...], body_hash: bytes, timestamp: int) -> bytes:
        """The DKIM-Signature line (folded, CRLF-terminated) over *signed_headers* (canonical) and the body hash."""
        folded, canonical = self._layout(names)
        tail = b"t=%d; bh=%s;" % (timestamp, body_hash)
        # Hashed last: the signature header itself, canonicalised (each fold becomes one space), with b= empty.
        digest = hashlib.sha256(signed_headers + b"dkim-signature:" + canonical + b" " + tail + b" b=").digest()
        signature = base64.b64encode(self._sign(digest))
        lines = b"\r\n ".join(signature[i : i + _BASE64_LINE] for i in range(0, len(signature), _BASE64_LINE))
        return folded + tail + b"\r\n b=" + lines + b"\r\n"


class DkimSigner:
    """Signs complete RFC 5322 messages (CRLF line endings) for one domain: RSA, and Ed25519 when configured."""

    def __init__(
        self,
        private_key: bytes,
        *,
        selector: str,
        domain: str,
        ed25519_key: bytes | None = None,
        ed25519_selector: str = "",
    ) -> None:
        self.domain = domain
        self.selector = selector
        self._keys = [_Key("NEWSBOT_DKIM_KEY_FILE", private_key, selector, domain, ed25519_key=False)]
        if ed25519_key is not None:
            # Below the RSA one: a verifier that checks only the first signature sees the one every receiver knows.
            self._keys.append(
                _Key("NEWSBOT_DKIM_ED25519_KEY_FILE", ed25519_key, ed25519_selector, domain, ed25519_key=True)
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> DkimSigner | None:
        """The signer for the configured keys, selectors and sender domain; None when DKIM is not configured."""
        if settings.dkim_key_file is None or not settings.dkim_selector:
            return None
        ed25519_file = settings.dkim_ed25519_key_file.resolve() if settings.dkim_ed25519_key_file else None
        return _load(
            settings.dkim_key_file.resolve(),
            settings.dkim_selector,
            settings.mail_domain,
            ed25519_file,
            settings.dkim_ed25519_selector,
        )

    def sign(self, message: bytes, *, timestamp: int | None = None) -> bytes:
        """*message* with its DKIM-Signature header(s) in front; safe to call from several threads at once."""
        head, separator, body = message.partition(b"\r\n\r\n")
        if not separator:
            raise ValueError("cannot DKIM-sign a message without a CRLF blank line after its headers")
        fields = _canonical_headers(head)
        names = tuple(name for name, _value in fields)
        signed_headers = b"".join(name + b":" + value for name, value in fields)
        body_hash = base64.b64encode(hashlib.sha256(Simple.canonicalize_body(body)).digest())
        when = int(time.time()) if timestamp is None else timestamp
        return b"".join([*(key.header(signed_headers, names, body_hash, when) for key in self._keys), message])

    async def signed(self, message: bytes) -> bytes:
        """`sign` on the signing threads: the event loop only queues the message and waits for the result."""
        return await _signing_threads().submit(self.sign, message)


class _SigningThreads:
    """Threads that sign what event loops queue, handing results back in batches; one set per process.

    `run_in_executor` costs the loop tens of microseconds a message (a concurrent future, a wake-up per result);
    here a message costs a queue put, and one wake-up carries up to `_BATCH` signatures finished since the last one.
    One thread fewer than the machine has cores (at least one): the loop keeps a core for the sending.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        for number in range(max(1, min(4, (os.cpu_count() or 2) - 1))):
            threading.Thread(target=self._work, name=f"dkim-{number}", daemon=True).start()

    def submit(self, sign: Callable[[bytes], bytes], message: bytes) -> asyncio.Future[bytes]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._jobs.put((loop, future, sign, message))
        return future

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            finished: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[bytes], bytes | Exception]] = []
            while True:
                loop, future, sign, message = job
                try:
                    outcome: bytes | Exception = sign(message)
                except Exception as exc:  # handed to the awaiting send, which reports it
                    outcome = exc
                finished.append((loop, future, outcome))
                if len(finished) == _BATCH:
                    break
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[bytes], bytes | Exception]]] = {}
            for loop, future, outcome in finished:
                by_loop.setdefault(loop, []).append((future, outcome))
            for loop, results in by_loop.items():
                with contextlib.suppress(RuntimeError):  # that loop has closed: nobody waits any more
                    loop.call_soon_threadsafe(_hand_back, results)


@functools.cache
def _signing_threads() -> _SigningThreads:
    return _SigningThreads()


def _hand_back(results: list[tuple[asyncio.Future[bytes], bytes | Exception]]) -> None:
    for future, outcome in results:
        if future.cancelled():
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


def _folded(tags: list[bytes], names: tuple[bytes, ...]) -> bytes:
    """*tags* and then h= with *names*, folded at spaces (and inside h=, after its colons) to fit 78 columns."""
    pieces = [(b" ", tag) for tag in tags]
    for index, name in enumerate(names):
        first, last = index == 0, index == len(names) - 1
        pieces.append((b" " if first else b"", (b"h=" if first else b"") + name + (b";" if last else b":")))
    out: list[bytes] = []
    column = len(b"DKIM-Signature: ")
    for glue, piece in pieces:
        if out and column + len(glue) + len(piece) > _WIDTH:
            out.append(b"\r\n ")
            column = 1
        elif out:
            out.append(glue)
            column += len(glue)
        out.append(piece)
        column += len(piece)
    return b"".join(out)


def _canonical_headers(head: bytes) -> list[tuple[bytes, bytes]]:
    """The relaxed-canonical form of each header in `SIGNED_HEADERS` the message has (the last one of a name)."""
    fields: dict[bytes, bytes] = {}
    name = b""
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if name:
                fields[name] += b"\r\n" + line
            continue
        field_name, colon, value = line.partition(b":")
        if not colon:
            raise ValueError(f"cannot DKIM-sign a message with the header line {line[:60]!r}")
        name = field_name.strip().lower()
        if name in _SIGNED:
            fields[name] = value
        else:
            name = b""
    if b"from" not in fields:
        raise ValueError("cannot DKIM-sign a message without a From header")
    return [(name, _relaxed(fields[name])) for name in _SIGNED if name in fields]


def _relaxed(value: bytes) -> bytes:
    """A header value as dkimpy's relaxed canonicalisation has it: unfolded, runs of spaces and tabs made one space,
    stripped, CRLF-terminated; without its regular expressions when only spaces, tabs and folds occur."""
    if b"\n" in value:  # dkimpy unfolds by deleting every LF with the CR before it, if any
        value = value.replace(b"\r\n", b"").replace(b"\n", b"")
    if b"\r" in value or b"\x0b" in value or b"\x0c" in value:  # whitespace to bytes.split, not to relaxed
        return compress_whitespace(value).strip() + b"\r\n"
    return b" ".join(value.split()) + b"\r\n"


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _read_key(setting: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"{setting} {path}: {exc.strerror or exc}") from None


@functools.lru_cache(maxsize=4)
def _load(path: Path, selector: str, domain: str, ed25519_path: Path | None, ed25519_selector: str) -> DkimSigner:
    return DkimSigner(
        _read_key("NEWSBOT_DKIM_KEY_FILE", path),
        selector=selector,
        domain=domain,
        ed25519_key=None if ed25519_path is None else _read_key("NEWSBOT_DKIM_ED25519_KEY_FILE", ed25519_path),
        ed25519_selector=ed25519_selector,
    )
