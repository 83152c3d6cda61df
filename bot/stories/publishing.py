"""Publishing: what happens when a story enters the newsroom by any door (CLI, Telegram, API, feed).

:func:`publish_story` ingests the story (stored, tagged, queued for readers), queues its social posts and writes
the audit entry, all in one transaction. Every intake calls it, so no door forgets the social posts or the audit
trail, and planning itself stays about readers only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.app.newsroom import Newsroom
from bot.editors.audit import record_audit
from bot.outbox.social import Destination, Distribution, queue_social_posts
from bot.stories.ingest import IngestResult, ingest_story
from bot.stories.story import Story


@dataclass(frozen=True, slots=True)
class Publication:
    """The ingest result plus where the story will be posted on social networks."""

    ingested: IngestResult
    social: list[Destination] = field(default_factory=list)

    @property
    def story(self) -> Story:
        return self.ingested.story

    @property
    def created(self) -> bool:
        return self.ingested.created

    @property
    def recipients(self) -> dict[str, int]:
        return self.ingested.recipients

    @property
    def total_recipients(self) -> int:
        return sum(self.ingested.recipients.values())


def action_for(story: Story) -> str:
    """The audit action: a breaking story is a push, anything else a story."""
    return "push" if story.breaking else "story"


async def publish_story(
    newsroom: Newsroom,
    story: Story,
    *,
    actor: str,
    distribution: Distribution | None = None,
    dry_run: bool = False,
) -> Publication:
    """Ingest *story*, queue its social posts and audit who did it; a duplicate is audited but changes nothing."""
    distribution = distribution if distribution is not None else Distribution.load(newsroom.settings, newsroom.taxonomy)
    destinations = distribution.for_story(story)
    if dry_run:
        return Publication(await ingest_story(newsroom, story, dry_run=True), destinations)

    async def social_and_audit(conn: AsyncConnection, result: IngestResult) -> None:
        queued = await queue_social_posts(conn, distribution, result.story, datetime.now(UTC))
        await record_audit(
            conn,
            actor=actor,
            action=action_for(result.story),
            subject=result.story.id,
            recipients=sum(result.recipients.values()),
            details=_details(result, social=queued),
        )

    result = await ingest_story(newsroom, story, also=social_and_audit)
    if not result.created:
        async with newsroom.engine.begin() as conn:
            await record_audit(
                conn,
                actor=actor,
                action=f"{action_for(story)}.duplicate",
                subject=result.story.id,
                recipients=0,
                details={"title": result.story.title, "source": story.source},
            )
        return Publication(result, [])
    newsroom.notify_published()
    return Publication(result, destinations)


def _details(result: IngestResult, *, social: int) -> dict[str, object]:
    story = result.story
    return {
        "title": story.title,
        "topics": list(story.topics),
        "breaking": story.breaking,
        "source": story.source,
        "recipients": result.recipients,
        "social_posts": social,
    }
