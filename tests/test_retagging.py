"""Adding topics to a stored story before it goes out (bot/stories/retagging.py), through the API door.

The command-line doors (`newsbot retag`, `newsbot ingest --retag`) are tested in test_cli.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select, update

from bot.app.newsroom import Newsroom
from bot.web import create_app
from subscribers.schema import Cadence, ChannelName, audit_log, deliveries, social_posts
from tests.editor_fixtures import API_TOKEN
from tests.newsroom_fixtures import add_reader

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
#: Wire copy the tagger finds no topic in.
NO_TOPIC = "The committee met on Tuesday to review the minutes of the previous gathering and adjourned."


@pytest.fixture
async def client(desk: Newsroom) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(desk))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        yield http


async def rows(newsroom: Newsroom, table) -> list:
    async with newsroom.engine.connect() as conn:
        return list(await conn.execute(select(table)))


async def test_a_story_stored_without_a_topic_is_flagged_and_can_be_given_one(
    desk: Newsroom, client: httpx.AsyncClient
) -> None:
    await add_reader(desk, "north-korea", telegram_chat="101")
    await add_reader(desk, "north-korea", email="nk@example.org", cadences={ChannelName.EMAIL: Cadence.INSTANT})
    await add_reader(desk, "sports", telegram_chat="102")
    woken: list[bool] = []
    desk.published_listeners.append(lambda: woken.append(True))

    posted = await client.post("/api/stories", json={"body": NO_TOPIC}, headers=AUTH)
    assert posted.status_code == 201, posted.text
    story = posted.json()
    assert story["topics"] == [] and story["recipients"] == {"telegram": 0, "email": 0}
    assert len(story["warnings"]) == 1 and "has no topic: nobody will receive it" in story["warnings"][0]
    assert f"PUT /api/stories/{story['id']}/topics" in story["warnings"][0]
    woken.clear()

    # Re-posting with a topic is still the same story, and still changes nothing ...
    again = await client.post("/api/stories", json={"body": NO_TOPIC, "topics": ["north-korea"]}, headers=AUTH)
    assert again.status_code == 200 and again.json()["topics"] == []

    # ... retagging does: planned like an ingest, social posts queued, worker woken, audited.
    retagged = await client.put(f"/api/stories/{story['id']}/topics", json={"topics": ["North Korea"]}, headers=AUTH)
    assert retagged.status_code == 200, retagged.text
    assert retagged.json() == {
        "id": story["id"], "topics": ["north-korea"], "added": ["north-korea"],
        "recipients": {"telegram": 1, "email": 1},
    }
    assert {(r.subscriber_id, r.channel, r.status) for r in await rows(desk, deliveries)} == {
        (1, "telegram", "pending"), (2, "email", "pending")
    }
    assert len(await rows(desk, social_posts)) == 2
    assert woken == [True]
    (entry,) = [r for r in await rows(desk, audit_log) if r.action == "retag"]
    assert entry.actor == "api" and entry.subject == story["id"] and entry.recipients == 2

    # The same request again: nothing new. Another topic: only its followers.
    same = await client.put(f"/api/stories/{story['id']}/topics", json={"topics": ["north-korea"]}, headers=AUTH)
    assert same.json()["added"] == [] and same.json()["recipients"] == {"telegram": 0, "email": 0}
    more = await client.put(f"/api/stories/{story['id']}/topics", json={"topics": ["sports"]}, headers=AUTH)
    assert more.json()["topics"] == ["north-korea", "sports"] and more.json()["recipients"]["telegram"] == 1
    status = await client.get(f"/api/stories/{story['id']}", headers=AUTH)
    assert status.json()["topics"] == ["north-korea", "sports"]


async def test_retagging_is_refused_once_the_story_went_out_and_for_unknown_stories_or_topics(
    desk: Newsroom, client: httpx.AsyncClient
) -> None:
    await add_reader(desk, "local", telegram_chat="101")
    await add_reader(desk, "sports", telegram_chat="102")
    story = (await client.post("/api/stories", json={"body": NO_TOPIC, "topics": ["local"]}, headers=AUTH)).json()
    path = f"/api/stories/{story['id']}/topics"

    unknown_topic = await client.put(path, json={"topics": ["local", "footbal"]}, headers=AUTH)
    assert unknown_topic.status_code == 422
    (detail,) = unknown_topic.json()["detail"]
    assert detail["loc"] == ["body", "topics", 1] and "unknown topic 'footbal'" in detail["msg"]
    assert (await client.put(path, json={"topics": []}, headers=AUTH)).status_code == 422
    missing = await client.put("/api/stories/no-such-story/topics", json={"topics": ["local"]}, headers=AUTH)
    assert missing.status_code == 404 and "no-such-story" in missing.json()["detail"]
    assert (await client.put(path, json={"topics": ["sports"]})).status_code == 401

    async with desk.engine.begin() as conn:
        await conn.execute(update(deliveries).values(status="sent"))
    gone = await client.put(path, json={"topics": ["sports"]}, headers=AUTH)
    assert gone.status_code == 409 and "already gone out to 1 reader" in gone.json()["detail"]
    assert len(await rows(desk, deliveries)) == 1
    assert [r.action for r in await rows(desk, audit_log)].count("retag") == 0
