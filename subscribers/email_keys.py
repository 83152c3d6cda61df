"""One reader per email address, whatever its case: the key an address is compared and kept unique by.

``Jane.Doe@Example.ORG`` and ``jane.doe@example.org`` reach the same mailbox in practice, so they are one reader.
The store keeps the spelling the reader typed first (for display and for sending) and, next to it, the
lower-cased key in ``addresses.email_key`` (unique). Every lookup by email address compares keys. The key is
computed here, in Python, rather than with SQL ``lower()``: SQLite's ``lower()`` folds ASCII only and
PostgreSQL's depends on the server's locale, so one Python definition keeps both backends in agreement.
Telegram chat ids are numbers and have no key (NULL).
"""

from __future__ import annotations

from typing import Any


def email_key(address: str) -> str:
    """The key of an email address: the whole address lower-cased (local part included)."""
    return address.lower()


def address_key(channel: str, address: str) -> str | None:
    """The ``email_key`` column's value for an address on *channel* (None for chat ids)."""
    return email_key(address) if channel == "email" else None


def email_key_default(context: Any) -> str | None:
    """Column default, so an address inserted without its key (by any writer) still gets one."""
    params = context.get_current_parameters()
    return address_key(str(params.get("channel")), str(params.get("address", "")))
