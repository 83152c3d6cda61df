"""Names for URLs that carry credentials: the kind, the service and a hash, never the secret itself.

An Apprise URL (``mastodon://TOKEN@mastodon.social``) or a feed behind a login (``https://user:pass@host/feed``,
``https://host/feed?token=...``) must reach the network as it is, but the store and the logs only ever see its
name, such as ``apprise:mastodon:3f9c1e7a52b04d68`` or ``feed:feeds.example.org:9b2d0c41e6a8f357``. The hash
tells two URLs of one service apart and stays the same from one start to the next, so the name can be a key.
Lives in the store package because migration 0007 renames stored feeds by this same rule.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit


def url_digest(url: str) -> str:
    """16 hex digits of the URL's SHA-256: enough to tell URLs apart, nothing to recover a secret from."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def secret_free_name(kind: str, service: str, url: str) -> str:
    """``<kind>:<service>:<hash of url>``, e.g. ``apprise:mastodon:3f9c1e7a52b04d68``."""
    return f"{kind}:{service}:{url_digest(url)}"


def has_credentials(url: str) -> bool:
    """True when the URL names a user or password, or has a query string (where ``?token=`` and keys go)."""
    try:
        parts = urlsplit(url)
        return parts.username is not None or parts.password is not None or bool(parts.query)
    except ValueError:  # unparseable (e.g. a broken IPv6 host): assume the worst
        return True


def feed_name(url: str) -> str:
    """How a feed is stored and logged: its URL when it holds no credentials, else ``feed:<host>:<hash>``.

    Only the host is kept: a path can hold a secret too when there is a token in the query (private feeds).
    """
    if not has_credentials(url):
        return url
    try:
        host = urlsplit(url).hostname or "unknown-host"
    except ValueError:
        host = "unknown-host"
    return secret_free_name("feed", host, url)


def scrub(text: str, url: str) -> str:
    """*text* (e.g. an HTTP client's error message) with *url* and the secrets in it replaced by the feed's name."""
    if not has_credentials(url):
        return text
    text = text.replace(url, feed_name(url))
    try:
        parts = urlsplit(url)
        secrets = [parts.password, parts.username, parts.query]
    except ValueError:
        secrets = []
    for secret in secrets:
        if secret:
            text = text.replace(secret, "…")
    return text
