"""Who may act as an editor, and the audit trail of what editors did.

Editors are Telegram user ids listed in ``NEWSBOT_EDITOR_IDS``; the CLI and the API are editors by construction
(shell access, the API token). Every editor action, and every story that enters by any door, is written to the
audit log with who, what, when and how many recipients, so a newsroom can always answer "who sent this?".
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.app.config import Settings
from bot.app.errors import NewsbotError
from subscribers import audit
from subscribers.audit import AuditEntry

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
]


class EditorOnly(NewsbotError):
    """Someone who is not an editor tried an editor command; nothing was done."""

    def __init__(self) -> None:
        super().__init__("editors only")


def is_editor(settings: Settings, user_id: int | None) -> bool:
    return user_id is not None and user_id in settings.editor_ids


def telegram_actor(user_id: int, username: str | None = None) -> str:
    """How a Telegram editor appears in the audit log: the id (stable) and the @username (readable)."""
    return f"telegram:{user_id}" + (f" (@{username})" if username else "")


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
