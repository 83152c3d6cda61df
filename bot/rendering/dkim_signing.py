"""DKIM signatures (RFC 6376) on outgoing email, with dkimpy, when NEWSBOT_DKIM_KEY_FILE and _SELECTOR are set.

Gmail and Yahoo want bulk mail authenticated, and RFC 8058 asks that both List-Unsubscribe headers be covered by
the signature, so a forwarder cannot swap in its own unsubscribe link. The key is read and checked once per
process; per message only the body hash and one RSA signature are computed.
"""

from __future__ import annotations

import functools
from pathlib import Path

import dkim
from dkim.crypto import UnparsableKeyError, parse_pem_private_key

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


class DkimSigner:
    """Signs complete RFC 5322 messages for one domain and selector."""

    def __init__(self, private_key: bytes, *, selector: str, domain: str) -> None:
        try:
            parse_pem_private_key(private_key)
        except (UnparsableKeyError, ValueError, IndexError) as exc:
            raise ConfigurationError(f"NEWSBOT_DKIM_KEY_FILE is not a PEM RSA private key: {exc}") from None
        self._key = private_key
        self.selector = selector
        self.domain = domain
        self._selector = selector.encode("ascii")
        self._domain = domain.encode("idna")

    @classmethod
    def from_settings(cls, settings: Settings) -> DkimSigner | None:
        """The signer for the configured key, selector and sender domain; None when DKIM is not configured."""
        if settings.dkim_key_file is None or not settings.dkim_selector:
            return None
        return _load(settings.dkim_key_file.resolve(), settings.dkim_selector, settings.mail_domain)

    def sign(self, message: bytes) -> bytes:
        """*message* with a DKIM-Signature header in front (relaxed/simple canonicalisation, rsa-sha256)."""
        present = {line.split(b":", 1)[0].strip().lower() for line in _header_lines(message)}
        headers = [name.encode("ascii") for name in SIGNED_HEADERS if name.lower().encode("ascii") in present]
        try:
            signature = dkim.DKIM(message).sign(
                self._selector, self._domain, self._key, canonicalize=(b"relaxed", b"simple"), include_headers=headers
            )
        except dkim.DKIMException as exc:
            raise ConfigurationError(f"DKIM signing failed: {exc}") from None
        return signature + message


def _header_lines(message: bytes) -> list[bytes]:
    head = message.split(b"\r\n\r\n", 1)[0]
    return [line for line in head.split(b"\r\n") if line and line[:1] not in (b" ", b"\t")]


@functools.lru_cache(maxsize=4)
def _load(path: Path, selector: str, domain: str) -> DkimSigner:
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"NEWSBOT_DKIM_KEY_FILE {path}: {exc.strerror or exc}") from None
    return DkimSigner(key, selector=selector, domain=domain)
