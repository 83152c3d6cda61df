"""Who may act as an editor, and the audit trail of what editors did.

Telegram editors are the user ids listed in ``NEWSBOT_EDITOR_IDS`` and every desk account linked to a Telegram
id; the CLI and the API are editors by construction (shell access, the API token). Every editor action, and every
story that enters by any door, is written to the audit log with who, what, when and how many recipients, so a
newsroom can always answer "who sent this?".
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.app.errors import NewsbotError
from subscribers import audit
from subscribers.audit import AuditEntry
from subscribers.editor_accounts import account_by_telegram_id, list_accounts

if TYPE_CHECKING:  # the intake imports this module, and the newsroom and story types import the intake's world
    from bot.app.newsroom import Newsroom
    from bot.stories.story import Story

__all__ = [
    "AuditEntry",
    "EditorOnly",
    "cli_actor",
    "is_editor",
    "list_audit",
    "record_audit",
    "telegram_actor",
    "telegram_editor_ids",
]


class EditorOnly(NewsbotError):
    """Someone who is not an editor tried an editor command; nothing was done."""

    def __init__(self) -> None:
        super().__init__("editors only")


async def is_editor(newsroom: Newsroom, user_id: int | None) -> bool:
    """In ``NEWSBOT_EDITOR_IDS``, or linked to a desk account.

    The store is asked every time (editor commands are rare), so an account added or removed by any process, the
    CLI's or the desk's, counts in a running bot at once.
    """
    if user_id is None:
        return False
    return user_id in newsroom.settings.editor_ids or await _account_email(newsroom, user_id) is not None


async def telegram_actor(newsroom: Newsroom, user_id: int, username: str | None = None) -> str:
    """How a Telegram editor appears in the audit log: the id (stable), the @username and the desk account's
    address (readable: the desk's audit filter finds an editor's Telegram actions by their address too)."""
    names = [f"@{username}"] if username else []
    email = await _account_email(newsroom, user_id)
    names += [email] if email is not None else []
    return f"telegram:{user_id}" + (f" ({', '.join(names)})" if names else "")


async def telegram_editor_ids(newsroom: Newsroom) -> set[int]:
    """Every Telegram editor now: ``NEWSBOT_EDITOR_IDS`` and the accounts' Telegram ids."""
    async with newsroom.reader.connect() as conn:
        accounts = await list_accounts(conn)
    return set(newsroom.settings.editor_ids) | {a.telegram_id for a in accounts if a.telegram_id is not None}


async def _account_email(newsroom: Newsroom, user_id: int) -> str | None:
    async with newsroom.reader.connect() as conn:
        account = await account_by_telegram_id(conn, user_id)
    return account.email if account is not None else None


def cli_actor() -> str:
    """The operating-system user running the command, since the CLI has no login of its own."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


async def record_audit(
    conn: AsyncConnection,
    *,
    actor: str,
    action: str,
    subject: str | None = None,
    recipients: int | None = None,
    details: Mapping[str, Any] | None = None,
    at: datetime,
) -> None:
    """Append one entry to the audit log, inside the caller's transaction so it stands or falls with the action."""
    await audit.add_audit_entry(
        conn,
        at=at,
        actor=actor,
        action=action,
        subject=subject,
        recipients=recipients,
        details=json.dumps(details, ensure_ascii=False, sort_keys=True) if details is not None else None,
    )


@dataclass(frozen=True, slots=True)
class SendChange:
    """An editor changed how a story is sent (schedule, stop, resume): the readers it touched per channel, its
    social posts, and the story's state before and after, audited the same way whatever the change."""

    action: str
    story_id: str
    title: str
    readers: Mapping[str, int]
    social_posts: int
    before: Mapping[str, object]
    after: Mapping[str, object] | None = None
    more: Mapping[str, object] = field(default_factory=dict)

    async def record(self, conn: AsyncConnection, *, actor: str, at: datetime) -> None:
        details = {"title": self.title, "recipients": dict(self.readers), "social_posts": self.social_posts}
        details |= {"before": self.before, **({"after": self.after} if self.after is not None else {}), **self.more}
        await record_audit(
            conn, actor=actor, action=self.action, subject=self.story_id, recipients=sum(self.readers.values()),
            details=details, at=at,
        )  # fmt: skip


async def record_cancelled_draft(newsroom: Newsroom, actor: str, story: Story) -> None:
    """An editor dropped a draft: ``push.cancelled`` or ``story.cancelled``, to nobody."""
    async with newsroom.engine.begin() as conn:
        await record_audit(
            conn,
            actor=actor,
            action=f"{'push' if story.breaking else 'story'}.cancelled",
            subject=story.id,
            recipients=0,
            details={"title": story.title},
            at=newsroom.clock.now(),
        )


async def list_audit(conn: AsyncConnection, limit: int = 100) -> list[AuditEntry]:
    """The newest *limit* audit entries, newest first."""
    return await audit.list_audit_entries(conn, limit)
