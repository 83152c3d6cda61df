"""Editor accounts for the desk on the web, and their one-time sign-in links.

An account is an email address (unique whatever its case, compared by ``email_key``), a role and, optionally, the
editor's Telegram user id. Sign-in links are kept as the SHA-256 of their token only, with an expiry and the time
they were used: consuming one is a single conditional UPDATE, so two clicks racing each other sign in once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.database import view_of
from subscribers.email_keys import email_key
from subscribers.errors import NewsbotError
from subscribers.schema import editor_accounts, login_links

ROLES = ("editor", "admin")


class AccountExists(NewsbotError):
    """The address, or the Telegram id, already belongs to an account."""


@dataclass(frozen=True, slots=True)
class EditorAccount:
    id: int
    email: str
    name: str | None
    role: str
    telegram_id: int | None
    created_at: datetime
    session_generation: int
    sessions_valid_after: datetime | None


async def add_account(
    conn: AsyncConnection,
    *,
    email: str,
    name: str | None,
    role: str,
    telegram_id: int | None,
    at: datetime,
) -> EditorAccount:
    """Store a new account; AccountExists when its address (any case) or Telegram id is taken."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if await account_by_email(conn, email) is not None:
        raise AccountExists(f"{email} already has a desk account")
    if telegram_id is not None and await account_by_telegram_id(conn, telegram_id) is not None:
        raise AccountExists(f"Telegram user {telegram_id} is already linked to another desk account")
    try:
        async with conn.begin_nested():
            result = await conn.execute(
                editor_accounts.insert()
                .values(
                    email=email,
                    email_key=email_key(email),
                    name=name,
                    role=role,
                    telegram_id=telegram_id,
                    created_at=at,
                    session_generation=0,
                )
                .returning(*editor_accounts.c)
            )
            return view_of(EditorAccount, result.one())
    except IntegrityError:  # added by someone else between the check and the insert
        raise AccountExists(f"{email} already has a desk account") from None


async def list_accounts(conn: AsyncConnection) -> list[EditorAccount]:
    """Every account, by address."""
    rows = await conn.execute(select(editor_accounts).order_by(editor_accounts.c.email_key))
    return [view_of(EditorAccount, row) for row in rows]


async def account_by_id(conn: AsyncConnection, account_id: int) -> EditorAccount | None:
    row = (await conn.execute(select(editor_accounts).where(editor_accounts.c.id == account_id))).first()
    return view_of(EditorAccount, row) if row is not None else None


async def account_by_email(conn: AsyncConnection, email: str) -> EditorAccount | None:
    """The account of *email*, whatever its case."""
    query = select(editor_accounts).where(editor_accounts.c.email_key == email_key(email))
    row = (await conn.execute(query)).first()
    return view_of(EditorAccount, row) if row is not None else None


async def account_by_telegram_id(conn: AsyncConnection, telegram_id: int) -> EditorAccount | None:
    query = select(editor_accounts).where(editor_accounts.c.telegram_id == telegram_id)
    row = (await conn.execute(query)).first()
    return view_of(EditorAccount, row) if row is not None else None


async def remove_account(conn: AsyncConnection, email: str) -> EditorAccount | None:
    """Delete the account of *email* (its links go with it); the account removed, or None if there was none."""
    account = await account_by_email(conn, email)
    if account is not None:
        await conn.execute(delete(editor_accounts).where(editor_accounts.c.id == account.id))
    return account


async def count_admins(conn: AsyncConnection) -> int:
    """How many accounts are admins: the desk never lets the last one go.

    The admins' rows stay locked until the caller's transaction ends (FOR UPDATE on PostgreSQL; SQLite's write
    transactions are serial anyway), so two admins demoting or removing each other at once cannot both pass.
    """
    query = select(editor_accounts.c.id).where(editor_accounts.c.role == "admin").with_for_update()
    return len((await conn.execute(query)).all())


async def set_role(conn: AsyncConnection, account_id: int, role: str) -> None:
    """Give an account another role (its sessions read it on their next request)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    await conn.execute(update(editor_accounts).where(editor_accounts.c.id == account_id).values(role=role))


async def set_telegram_id(conn: AsyncConnection, account_id: int, telegram_id: int | None) -> None:
    """Link an account to a Telegram user id, or unlink it (None); AccountExists when another account has it."""
    if telegram_id is not None:
        holder = await account_by_telegram_id(conn, telegram_id)
        if holder is not None and holder.id != account_id:
            raise AccountExists(f"Telegram user {telegram_id} is already linked to another desk account")
    try:
        async with conn.begin_nested():
            await conn.execute(
                update(editor_accounts).where(editor_accounts.c.id == account_id).values(telegram_id=telegram_id)
            )
    except IntegrityError:  # linked elsewhere between the check and the update
        raise AccountExists(f"Telegram user {telegram_id} is already linked to another desk account") from None


async def end_sessions(conn: AsyncConnection, account_id: int, at: datetime) -> None:
    """Make every session issued so far invalid, and every unused sign-in link with them."""
    await conn.execute(
        update(editor_accounts)
        .where(editor_accounts.c.id == account_id)
        .values(session_generation=editor_accounts.c.session_generation + 1, sessions_valid_after=at)
    )
    await conn.execute(
        update(login_links)
        .where(login_links.c.account_id == account_id, login_links.c.used_at.is_(None))
        .values(used_at=at)
    )


async def add_login_link(
    conn: AsyncConnection, *, account_id: int, token_hash: str, at: datetime, expires_at: datetime
) -> None:
    """Keep a new sign-in link (by its token's hash), and forget links that expired before *at*."""
    await conn.execute(delete(login_links).where(login_links.c.expires_at < at))
    await conn.execute(
        login_links.insert().values(token_hash=token_hash, account_id=account_id, created_at=at, expires_at=expires_at)
    )


async def find_login_link(conn: AsyncConnection, token_hash: str, at: datetime) -> EditorAccount | None:
    """The account of a link that still works (unused, not expired), without using it."""
    account_id = (
        await conn.execute(
            select(login_links.c.account_id).where(
                login_links.c.token_hash == token_hash,
                login_links.c.used_at.is_(None),
                login_links.c.expires_at > at,
            )
        )
    ).scalar_one_or_none()
    return await account_by_id(conn, account_id) if account_id is not None else None


async def consume_login_link(conn: AsyncConnection, token_hash: str, at: datetime) -> EditorAccount | None:
    """Use the link with *token_hash* once: its account, or None when unknown, used already or expired."""
    result = await conn.execute(
        update(login_links)
        .where(
            login_links.c.token_hash == token_hash,
            login_links.c.used_at.is_(None),
            login_links.c.expires_at > at,
        )
        .values(used_at=at)
        .returning(login_links.c.account_id)
    )
    account_id = result.scalar_one_or_none()
    return await account_by_id(conn, account_id) if account_id is not None else None
