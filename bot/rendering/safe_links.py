"""The one rule for a link newsbot puts in a message: an absolute http(s) URL, never ``javascript:`` or ``data:``.

Rendering a story or a digest links its URL only when :func:`http_link` accepts it (templates escape it as
well); stories coming in are held to the stricter :func:`bot.stories.parsing.check_story_url`, which builds on it.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def http_link(url: str | None) -> str | None:
    """*url* without surrounding space if it is an absolute http or https URL with a host, else None."""
    if not url:
        return None
    url = url.strip()
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None
