"""The Apprise transport: one notification to any network Apprise knows (Mastodon, Discord, Slack, Matrix, ntfy...).

Social posts to networks other than Telegram go out through it (`bot.outbox.social`).
"""

from __future__ import annotations

import apprise

from bot.channels.failures import PermanentFailure, TemporaryFailure


async def notify(url: str, *, title: str, body: str) -> None:
    """Send one plain-text notification to *url*; its failure is a retryable TemporaryFailure with Apprise's own
    reason, and a URL Apprise refuses is a PermanentFailure."""
    sender = apprise.Apprise()
    if not sender.add(url):
        raise PermanentFailure("Apprise refused the URL")
    try:
        result = await sender.async_notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT)
    except Exception as exc:  # Apprise plugins may raise anything; the post is retried, not lost
        raise TemporaryFailure(f"apprise error: {exc}") from exc
    if not result:
        reasons = [entry.message for entry in getattr(result, "logs", list)() if entry.level in ("WARNING", "ERROR")]
        raise TemporaryFailure(reasons[-1][:300] if reasons else "apprise: the service refused the post")
