"""Desk accounts and their one-time sign-in links: the one place the CLI, the bot's /desk and the web ask.

A sign-in link is ``<public_url>/desk/login/<token>``: 32 random bytes, valid for 15 minutes and once. The store
keeps only the token's SHA-256, so a copy of the database signs nobody in. Every account change is audited.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.app.errors import NewsbotError
from bot.app.newsroom import Newsroom
from bot.channels import Channel, DeliveryFailed, OutgoingMessage
from subscribers import editor_accounts
from subscribers.audit import add_audit_entry
from subscribers.editor_accounts import ROLES, EditorAccount
from subscribers.preferences import normalise_email

log = logging.getLogger(__name__)

#: How long a sign-in link works.
LINK_MINUTES = 15
TOKEN_BYTES = 32


class AccountNotFound(NewsbotError):
    """No desk account has that address."""


class LastAdmin(NewsbotError):
    """The change would leave the desk without an admin, so nobody could manage accounts any more."""


@dataclass(frozen=True, slots=True)
class LoginLink:
    account: EditorAccount
    url: str
    minutes: int = LINK_MINUTES


def token_hash(token: str) -> str:
    """What the store keeps of a sign-in token."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


async def add_editor(
    newsroom: Newsroom,
    email: str,
    *,
    name: str | None = None,
    role: str = "editor",
    telegram_id: int | None = None,
    actor: str = "cli",
) -> EditorAccount:
    """Create an account; NewsbotError (taken, bad address or role) in words for the person who asked."""
    if role not in ROLES:
        raise NewsbotError(f"role must be editor or admin, not {role!r}")
    address = normalise_email(email)
    name = (name or "").strip() or None
    now = newsroom.clock.now()
    async with newsroom.engine.begin() as conn:
        account = await editor_accounts.add_account(
            conn, email=address, name=name, role=role, telegram_id=telegram_id, at=now
        )
        await add_audit_entry(conn, at=now, actor=actor, action="editor added", subject=address, details=role)
    return account


async def list_editors(newsroom: Newsroom) -> list[EditorAccount]:
    async with newsroom.reader.connect() as conn:
        return await editor_accounts.list_accounts(conn)


async def remove_editor(newsroom: Newsroom, email: str, *, actor: str = "cli") -> EditorAccount:
    """Delete an account: its sessions and links stop working at once.

    AccountNotFound if there is none; LastAdmin if it is the only admin, since nobody could manage accounts after.
    """
    async with newsroom.engine.begin() as conn:
        account = await editor_accounts.account_by_email(conn, email.strip())
        if account is None:
            raise AccountNotFound(f"no desk account has the address {email.strip()}")
        await _remove_account(conn, account, actor=actor, at=newsroom.clock.now())
    return account


async def issue_login_link(newsroom: Newsroom, account: EditorAccount) -> LoginLink:
    """A new one-time sign-in link for *account*."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = newsroom.clock.now()
    async with newsroom.engine.begin() as conn:
        await editor_accounts.add_login_link(
            conn,
            account_id=account.id,
            token_hash=token_hash(token),
            at=now,
            expires_at=now + timedelta(minutes=LINK_MINUTES),
        )
    return LoginLink(account, f"{newsroom.settings.public_url.rstrip('/')}/desk/login/{token}")


async def login_link_for(newsroom: Newsroom, email: str) -> LoginLink:
    """A sign-in link for the account of *email*; AccountNotFound if there is none."""
    async with newsroom.reader.connect() as conn:
        account = await editor_accounts.account_by_email(conn, email.strip())
    if account is None:
        raise AccountNotFound(f"no desk account has the address {email.strip()}; add one with newsbot editors add")
    return await issue_login_link(newsroom, account)


async def account_of_telegram_user(newsroom: Newsroom, telegram_id: int) -> EditorAccount | None:
    async with newsroom.reader.connect() as conn:
        return await editor_accounts.account_by_telegram_id(conn, telegram_id)


async def check_login_link(newsroom: Newsroom, token: str) -> EditorAccount | None:
    """The account a sign-in link would sign in, if it still works; the link is not used."""
    if not token or len(token) > 200:
        return None
    async with newsroom.reader.connect() as conn:
        return await editor_accounts.find_login_link(conn, token_hash(token), newsroom.clock.now())


async def use_login_link(newsroom: Newsroom, token: str) -> EditorAccount | None:
    """Consume a sign-in link (once): its account, or None when it is unknown, used or expired."""
    if not token or len(token) > 200:
        return None
    now = newsroom.clock.now()
    async with newsroom.engine.begin() as conn:
        account = await editor_accounts.consume_login_link(conn, token_hash(token), now)
        if account is not None:
            await add_audit_entry(conn, at=now, actor=f"desk:{account.email}", action="desk sign-in")
    return account


async def end_all_sessions(newsroom: Newsroom, account_id: int, *, actor: str, subject: str | None = None) -> None:
    """Sign an account out everywhere: every session and unused link stops working.

    *subject* names the account in the audit log when someone else (an admin) ends its sessions.
    """
    now = newsroom.clock.now()
    async with newsroom.engine.begin() as conn:
        await editor_accounts.end_sessions(conn, account_id, now)
        await add_audit_entry(conn, at=now, actor=actor, action="desk sessions ended", subject=subject)


# -- an admin managing accounts on the desk (by id: the page's forms name the account they show) ----------------


async def editor_by_id(newsroom: Newsroom, account_id: int) -> EditorAccount:
    """The account with *account_id*; AccountNotFound if there is none (removed meanwhile)."""
    async with newsroom.reader.connect() as conn:
        return await _existing(conn, account_id)


async def _existing(conn: AsyncConnection, account_id: int) -> EditorAccount:
    account = await editor_accounts.account_by_id(conn, account_id)
    if account is None:
        raise AccountNotFound(f"no desk account has the number {account_id}; it may have been removed")
    return account


async def _keep_an_admin(conn: AsyncConnection, account: EditorAccount, doing: str) -> None:
    if account.role == "admin" and await editor_accounts.count_admins(conn) <= 1:
        raise LastAdmin(
            f"{account.email} is the only admin, so it cannot be {doing}: make another account an admin first"
        )


async def change_role(newsroom: Newsroom, account_id: int, role: str, *, actor: str) -> EditorAccount:
    """Make an account an editor or an admin; LastAdmin when it is the only admin and would become an editor."""
    if role not in ROLES:
        raise NewsbotError(f"role must be editor or admin, not {role!r}")
    now = newsroom.clock.now()
    async with newsroom.engine.begin() as conn:
        account = await _existing(conn, account_id)
        if account.role == role:
            return account
        if role != "admin":
            await _keep_an_admin(conn, account, "made an editor")
        await editor_accounts.set_role(conn, account_id, role)
        await add_audit_entry(
            conn, at=now, actor=actor, action="editor role changed", subject=account.email, details=role
        )
    return replace(account, role=role)


async def link_telegram(newsroom: Newsroom, account_id: int, telegram_id: int | None, *, actor: str) -> EditorAccount:
    """Link an account to a Telegram user id (so /desk in the bot works for them), or unlink it with None."""
    now = newsroom.clock.now()
    async with newsroom.engine.begin() as conn:
        account = await _existing(conn, account_id)
        if account.telegram_id == telegram_id:
            return account
        await editor_accounts.set_telegram_id(conn, account_id, telegram_id)
        action, details = (
            ("editor Telegram linked", str(telegram_id)) if telegram_id else ("editor Telegram unlinked", None)
        )
        await add_audit_entry(conn, at=now, actor=actor, action=action, subject=account.email, details=details)
    return replace(account, telegram_id=telegram_id)


async def remove_editor_account(newsroom: Newsroom, account_id: int, *, actor: str) -> EditorAccount:
    """Delete an account as :func:`remove_editor` does, found by its number (the desk's forms name it so)."""
    async with newsroom.engine.begin() as conn:
        account = await _existing(conn, account_id)
        await _remove_account(conn, account, actor=actor, at=newsroom.clock.now())
    return account


async def _remove_account(conn: AsyncConnection, account: EditorAccount, *, actor: str, at: datetime) -> None:
    await _keep_an_admin(conn, account, "removed")
    await editor_accounts.remove_account(conn, account.email)
    await add_audit_entry(conn, at=at, actor=actor, action="editor removed", subject=account.email)


async def send_login_link(newsroom: Newsroom, email_channel: Channel, account_id: int, *, actor: str) -> bool:
    """Mail an account a sign-in link on an admin's behalf, audited; False when the mail could not be sent."""
    account = await editor_by_id(newsroom, account_id)
    sent = await mail_login_link(newsroom, email_channel, account.email)
    if sent:
        now = newsroom.clock.now()
        async with newsroom.engine.begin() as conn:
            await add_audit_entry(conn, at=now, actor=actor, action="desk sign-in link sent", subject=account.email)
    return sent


def login_email(newsroom: Newsroom, link: LoginLink) -> bytes:
    """The sign-in email: plain text, transactional (no list headers); the SMTP channel DKIM-signs it."""
    settings = newsroom.settings
    message = EmailMessage(policy=SMTP)
    message["From"] = settings.mail_from
    message["To"] = link.account.email
    message["Subject"] = f"Your sign-in link to the {settings.outlet_name} desk"
    message["Date"] = format_datetime(newsroom.clock.now())
    message["Message-ID"] = f"<{uuid.uuid4().hex}@{settings.mail_domain}>"
    message.set_content(
        f"Hello{' ' + link.account.name if link.account.name else ''},\n\n"
        f"open this link to sign in to the {settings.outlet_name} desk:\n\n{link.url}\n\n"
        f"It works once, for {link.minutes} minutes. If you did not ask for it, ignore this email: "
        "nobody can sign in without the link.\n",
        charset="utf-8",
    )
    return message.as_bytes(policy=SMTP)


async def mail_login_link(newsroom: Newsroom, email_channel: Channel, email: str) -> bool:
    """Mail a sign-in link if *email* has an account; False (logged, never raised) when nothing was sent.

    Runs after the web answer went out, so a known and an unknown address take the same time to answer.
    """
    async with newsroom.reader.connect() as conn:
        account = await editor_accounts.account_by_email(conn, email)
    if account is None:
        log.info("desk sign-in requested for an address without an account")
        return False
    link = await issue_login_link(newsroom, account)
    message = OutgoingMessage(
        key=f"desk-login-{account.id}-{int(newsroom.clock.now().timestamp())}",
        address=account.email,
        content=login_email(newsroom, link),
    )
    try:
        await email_channel.send(message)
    except DeliveryFailed as exc:
        log.warning("could not mail a desk sign-in link to account %s: %s", account.id, exc)
        return False
    return True
