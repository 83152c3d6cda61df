"""The audit log: who published, retagged or changed what, and to how many readers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.database import view_of
from subscribers.schema import audit_log


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str | None
    recipients: int | None
    details: str | None


async def add_audit_entry(
    conn: AsyncConnection,
    *,
    at: datetime,
    actor: str,
    action: str,
    subject: str | None = None,
    recipients: int | None = None,
    details: str | None = None,
) -> None:
    await conn.execute(
        audit_log.insert().values(
            at=at, actor=actor, action=action, subject=subject, recipients=recipients, details=details
        )
    )


async def list_audit_entries(conn: AsyncConnection, limit: int = 100) -> list[AuditEntry]:
    """The audit log, newest first."""
    rows = await conn.execute(select(audit_log).order_by(audit_log.c.id.desc()).limit(limit))
    return [view_of(AuditEntry, row) for row in rows]
