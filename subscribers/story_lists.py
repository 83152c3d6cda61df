"""Stories as the editors' desk lists them: newest first with where each stands, its versions, and the audit log
filtered by account, action and date.

One query for the stories and one grouped count of their reader deliveries, whatever the length of the page, so a
desk page costs the same with 10 stories or 10,000 readers each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from subscribers.audit import AuditEntry
from subscribers.database import select_views, view_of
from subscribers.schema import audit_log, deliveries, stories, story_versions

#: Where a story stands, as the desk names it; the first that applies wins, in this order.
WITHDRAWN, SCHEDULED, STOPPED, SENDING, CORRECTED, SENT = (
    "withdrawn",
    "scheduled",
    "stopped",
    "sending",
    "corrected",
    "sent",
)
STATES = (SCHEDULED, SENDING, STOPPED, SENT, CORRECTED, WITHDRAWN)
_OPEN = ("pending", "sending")


@dataclass(frozen=True, slots=True)
class ListedStory:
    """A story in the desk's list: enough to name it and show how far its send got."""

    id: str
    title: str
    breaking: bool
    source: str | None
    created_at: datetime
    publish_at: datetime | None
    stopped_at: datetime | None
    retracted_at: datetime | None
    version: int
    #: Its messages to readers by status (pending, sending, sent, failed, cancelled, stopped).
    counts: dict[str, int] = field(default_factory=dict)
    #: The language it is written in ("de"); None for stories stored before stories had one.
    language: str | None = None

    def state(self, now: datetime) -> str:
        """One of :data:`STATES`."""
        if self.retracted_at is not None:
            return WITHDRAWN
        if self.publish_at is not None and self.publish_at > now:
            return SCHEDULED
        if self.stopped_at is not None:
            return STOPPED
        if any(self.counts.get(status, 0) for status in _OPEN):
            return SENDING
        return CORRECTED if self.version > 1 else SENT

    @property
    def sent(self) -> int:
        return self.counts.get("sent", 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


_LISTED = (
    stories.c.id,
    stories.c.title,
    stories.c.breaking,
    stories.c.source,
    stories.c.created_at,
    stories.c.publish_at,
    stories.c.stopped_at,
    stories.c.retracted_at,
    stories.c.version,
    stories.c.language,
)


async def list_desk_stories(conn: AsyncConnection, limit: int = 200) -> list[ListedStory]:
    """The newest stories with their reader deliveries counted by status (the story itself, not its edits)."""
    rows = list(await conn.execute(select(*_LISTED).order_by(stories.c.created_at.desc(), stories.c.id).limit(limit)))
    counts = await _delivery_counts(conn, [row.id for row in rows])
    return [view_of(ListedStory, row, counts=counts.get(row.id, {})) for row in rows]


async def _delivery_counts(conn: AsyncConnection, story_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    if not story_ids:
        return counts
    rows = await conn.execute(
        select(deliveries.c.story_id, deliveries.c.status, func.count())
        .where(deliveries.c.story_id.in_(list(story_ids)), deliveries.c.item_key.like("story:%"))
        .group_by(deliveries.c.story_id, deliveries.c.status)
    )
    for story_id, status, count in rows:
        counts.setdefault(story_id, {})[status] = count
    return counts


@dataclass(frozen=True, slots=True)
class StoryVersion:
    """A version a correction replaced, as readers had it."""

    version: int
    title: str
    summary: str
    correction_note: str | None
    replaced_by: str | None
    replaced_at: datetime


async def list_story_versions(conn: AsyncConnection, story_id: str) -> list[StoryVersion]:
    """The earlier versions of a story, oldest first (the current one is the stories row)."""
    where = story_versions.c.story_id == story_id
    return await select_views(conn, StoryVersion, story_versions, where, order_by=[story_versions.c.version])


async def search_audit(
    conn: AsyncConnection,
    *,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
) -> list[AuditEntry]:
    """Audit entries newest first, narrowed to an actor (substring, any case), an action (its exact name or the
    name before its dot: ``push`` finds ``push.duplicate``) and a time range [since, until)."""
    query = select(audit_log)
    if actor:
        query = query.where(func.lower(audit_log.c.actor).contains(actor.lower(), autoescape=True))
    if action:
        query = query.where(
            (audit_log.c.action == action) | audit_log.c.action.startswith(f"{action}.", autoescape=True)
        )
    if since is not None:
        query = query.where(audit_log.c.at >= since)
    if until is not None:
        query = query.where(audit_log.c.at < until)
    rows = await conn.execute(query.order_by(audit_log.c.id.desc()).limit(limit))
    return [view_of(AuditEntry, row) for row in rows]


async def audit_actions(conn: AsyncConnection) -> list[str]:
    """Every action name the log holds, for the filter's choices."""
    rows = await conn.execute(select(audit_log.c.action).distinct().order_by(audit_log.c.action))
    return list(rows.scalars())
