"""Stop and resume: an editor holds back the rest of a story's send, and lets it continue later.

:func:`stop_story` marks the story stopped and turns every queued message and post of it to ``stopped`` in one
statement per table; workers holding claimed rows of it in memory see the mark within
`bot.outbox.halted_stories.REFRESH_SECONDS` and record those as stopped instead of sending them, so within a
second no worker, in any process, sends another message of it. The report says what had been sent by then (sent N
of M per channel). :func:`resume_story` queues the stopped messages again, so the send continues where it stopped
and nobody gets the story twice. Both are idempotent and audited; a retracted story never resumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.app.errors import StoryHalted, StoryNotFound
from bot.app.newsroom import Newsroom
from bot.editors.audit import SendChange
from subscribers import story_states
from subscribers.story_states import SendProgress, StoryState


@dataclass(frozen=True, slots=True)
class StopReport:
    """What a stop or a resume did, and where the story's send stands."""

    story_id: str
    title: str
    #: False when nothing changed: stopping a stopped story, or resuming one that runs and has nothing stopped.
    changed: bool
    #: Messages held now (stop) or queued again (resume), per channel, and social posts.
    deliveries: dict[str, int]
    social_posts: int
    progress: SendProgress
    stopped_at: datetime | None = None
    notes: list[str] = field(default_factory=list)

    def sent_of(self) -> dict[str, tuple[int, int]]:
        """Per channel, (sent, all) of the story's messages."""
        return {channel: self.progress.sent_of(channel) for channel in self.progress.deliveries}


async def _load(newsroom: Newsroom, story_id: str) -> StoryState:
    async with newsroom.reader.connect() as conn:
        state = await story_states.load_story_state(conn, story_id)
    if state is None:
        raise StoryNotFound(f"no story with id {story_id!r}")
    return state


def _sent_of(progress: SendProgress) -> dict[str, object]:
    """Where the send stood, for the audit entry: per channel, [sent, all]."""
    return {"sent_of": {channel: list(progress.sent_of(channel)) for channel in progress.deliveries}}


async def stop_story(newsroom: Newsroom, story_id: str, *, actor: str) -> StopReport:
    """Hold back everything of the story not sent yet, on every channel and in every worker; audited ``stop``."""
    state = await _load(newsroom, story_id)
    if state.stopped_at is not None or state.retracted_at is not None:
        async with newsroom.reader.connect() as conn:
            progress = await story_states.send_progress(conn, story_id)
        why = "retracted" if state.retracted_at is not None else "stopped"
        when = state.retracted_at or state.stopped_at
        return StopReport(
            story_id, state.title, False, {}, 0, progress, when, [f"already {why} at {when:%Y-%m-%d %H:%M:%S %Z}"]
        )
    now = newsroom.clock.now()
    async with newsroom.engine.begin() as conn:
        held, posts = await story_states.stop_story(conn, story_id, now)
        progress = await story_states.send_progress(conn, story_id)
        sent_of = _sent_of(progress)
        change = SendChange("stop", story_id, state.title, held, posts, {"stopped_at": None}, more=sent_of)
        await change.record(conn, actor=actor, at=now)
    return StopReport(story_id, state.title, True, held, posts, progress, now)


async def resume_story(newsroom: Newsroom, story_id: str, *, actor: str) -> StopReport:
    """Send the rest of a stopped story: its stopped messages and posts are queued again; audited ``resume``.

    Refused (StoryHalted) for a retracted story. Resuming one that is not stopped queues any message a worker
    stopped after all (one it held while the stop was being lifted) and says it was not stopped.
    """
    state = await _load(newsroom, story_id)
    if state.retracted_at is not None:
        raise StoryHalted(f"story {story_id} was withdrawn at {state.retracted_at:%Y-%m-%d %H:%M %Z}; it cannot resume")
    now = newsroom.clock.now()
    async with newsroom.engine.begin() as conn:
        queued, posts = await story_states.resume_story(conn, story_id, now)
        progress = await story_states.send_progress(conn, story_id)
        changed = state.stopped_at is not None or bool(sum(queued.values()) or posts)
        if changed:
            before = {"stopped_at": _iso(state.stopped_at)}
            change = SendChange("resume", story_id, state.title, queued, posts, before, more=_sent_of(progress))
            await change.record(conn, actor=actor, at=now)
    notes = [] if state.stopped_at is not None else ["it was not stopped"]
    if changed:
        newsroom.notify_published()
    return StopReport(story_id, state.title, changed, queued, posts, progress, None, notes)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
