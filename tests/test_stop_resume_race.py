"""A resume that lands while a worker is recording a message it skipped for the stop: the message is sent after all.

The worker decides "stopped" before it writes; if the resume commits in between, writing 'stopped' would hold the
message until someone resumed again. The outcome is written as 'stopped' only while the story is still stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from sqlalchemy import event, select, text

from bot.app.newsroom import Newsroom
from bot.stories.intake import publish_story
from bot.stories.stopping import resume_story, stop_story
from subscribers import deliveries as deliveries_store
from subscribers import story_states
from subscribers.schema import ChannelName, DeliveryStatus, deliveries
from tests.editor_fixtures import sample_story
from tests.newsroom_fixtures import add_reader
from tests.telegram_session import eventually_async


async def claimed_stopped_story(newsroom: Newsroom) -> int:
    """A story queued for one chat, its delivery claimed by a worker ('sending'), then stopped: the worker holds
    the row and will record it as skipped."""
    await add_reader(newsroom, "north-korea", telegram_chat="4242")
    published = await publish_story(newsroom, sample_story(newsroom), actor="cli")
    async with newsroom.engine.begin() as conn:
        (claimed,) = await deliveries_store.claim_due_deliveries(conn, 10, newsroom.clock.now())
    await stop_story(newsroom, published.story.id, actor="cli")
    return claimed.id


async def status_of(newsroom: Newsroom, delivery_id: int) -> str:
    async with newsroom.reader.connect() as conn:
        return (await conn.execute(select(deliveries.c.status).where(deliveries.c.id == delivery_id))).scalar_one()


def skipped(delivery_id: int) -> deliveries_store.DeliveryOutcome:
    return deliveries_store.DeliveryOutcome(
        delivery_id, ChannelName.TELEGRAM.value, DeliveryStatus.STOPPED, error="story stopped", attempted=False
    )


@contextlib.contextmanager
def writes_begun(newsroom: Newsroom) -> Iterator[list[str]]:
    """While the block runs, each write transaction begun on SQLite (its BEGIN IMMEDIATE sent) adds to the list."""
    begun: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.startswith("BEGIN IMMEDIATE"):
            begun.append(statement)

    engine = newsroom.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield begun
    finally:
        event.remove(engine, "before_cursor_execute", seen)


async def write_waiting(newsroom: Newsroom, begun: list[str]) -> bool:
    """The worker's write has started and waits for the resume: on PostgreSQL a session of this database waits
    for a lock; on SQLite it asked for the write lock after the resume took it (the resume's begin is the first)."""
    if newsroom.engine.dialect.name != "postgresql":
        return len(begun) >= 2
    async with newsroom.reader.connect() as conn:
        waiting = await conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
        return waiting.scalar_one() > 0


async def test_a_message_skipped_while_the_story_is_stopped_stays_stopped(newsroom: Newsroom) -> None:
    delivery_id = await claimed_stopped_story(newsroom)
    async with newsroom.engine.begin() as conn:
        await deliveries_store.record_outcomes(conn, [skipped(delivery_id)], newsroom.clock.now())
    assert await status_of(newsroom, delivery_id) == DeliveryStatus.STOPPED.value


async def test_a_message_skipped_after_a_resume_committed_goes_back_to_the_queue(newsroom: Newsroom) -> None:
    delivery_id = await claimed_stopped_story(newsroom)
    async with newsroom.reader.connect() as conn:
        story_id = (await conn.execute(select(deliveries.c.story_id).where(deliveries.c.id == delivery_id))).scalar()
    await resume_story(newsroom, story_id, actor="cli")  # the worker still holds the row ('sending')
    async with newsroom.engine.begin() as conn:
        await deliveries_store.record_outcomes(conn, [skipped(delivery_id)], newsroom.clock.now())
    assert await status_of(newsroom, delivery_id) == DeliveryStatus.PENDING.value


async def test_a_resume_in_progress_is_waited_for_and_its_result_read(newsroom: Newsroom) -> None:
    """On PostgreSQL both run at once: the resume has cleared the stop but not committed when the worker writes.
    The worker's write waits for the resume (a share lock on the story) and then sees it; on SQLite the single
    writer orders them the same way."""
    delivery_id = await claimed_stopped_story(newsroom)
    async with newsroom.reader.connect() as conn:
        story_id = (await conn.execute(select(deliveries.c.story_id).where(deliveries.c.id == delivery_id))).scalar()
    resuming, release = asyncio.Event(), asyncio.Event()

    async def resume_slowly() -> None:
        async with newsroom.engine.begin() as conn:
            await story_states.resume_story(conn, story_id, newsroom.clock.now())
            resuming.set()
            await release.wait()  # committed only once the worker's write has started

    async def record() -> None:
        await resuming.wait()
        async with newsroom.engine.begin() as conn:
            await deliveries_store.record_outcomes(conn, [skipped(delivery_id)], newsroom.clock.now())

    with writes_begun(newsroom) as begun:
        resume = asyncio.create_task(resume_slowly())
        write = asyncio.create_task(record())
        await resuming.wait()
        await eventually_async(lambda: write_waiting(newsroom, begun), what="the write waiting for the resume")
    release.set()
    await asyncio.gather(resume, write)
    assert await status_of(newsroom, delivery_id) == DeliveryStatus.PENDING.value
