"""What `newsbot run` warns about at start when the email setup would work but break a big sender's rules.

Nothing here stops newsbot: a test relay or a staging site is fine without them. But a real relay sending
without the outlet's postal address breaks CAN-SPAM, and one-click unsubscribe links on plain http are ignored
by Gmail and Yahoo (RFC 8058 wants https), so readers see no Unsubscribe button and report spam instead.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from bot.app.config import Settings


def _is_local(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def email_setup_warnings(settings: Settings) -> list[str]:
    """One line per problem, for the start-up log; empty when the setup is what mailbox providers expect."""
    warnings = []
    if settings.smtp_url and not settings.postal_address:
        warnings.append(
            "NEWSBOT_POSTAL_ADDRESS is not set: emails go out through NEWSBOT_SMTP_URL with no postal address in "
            "their footer, which CAN-SPAM requires of commercial and bulk email"
        )
    public = urlsplit(settings.public_url)
    if public.scheme == "http" and not _is_local(public.hostname or ""):
        warnings.append(
            f"NEWSBOT_PUBLIC_URL is plain http on {public.hostname}: Gmail and Yahoo only offer one-click "
            "unsubscribe for https links, so serve the web side behind https and set the https URL"
        )
    return warnings
