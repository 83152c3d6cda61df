"""PATCH and DELETE /api/stories/{id}: correct and retract through the API, the CLI's path, with its token; and
the follow-up field on POST. The channel post of the outlet is edited and deleted like readers' copies."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bot.app.newsroom import Newsroom
from bot.outbox.social import SocialPoster
from bot.outbox.worker import DeliveryWorker
from bot.web import create_app
from tests.editor_fixtures import API_TOKEN, OUTLET_CHANNEL
from tests.fakes import FakeBotAPI
from tests.newsroom_fixtures import SAMPLE_STORY, add_reader, paced_channels

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
async def client(desk: Newsroom) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(desk))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        yield http


async def send_everything(desk: Newsroom) -> None:
    channels = paced_channels(desk.settings, only=["telegram"])
    try:
        await DeliveryWorker(desk, channels).drain()
        await SocialPoster(desk, channels["telegram"]).drain()
    finally:
        for channel in channels.values():
            await channel.aclose()


async def test_patch_corrects_in_place_and_delete_retracts_readers_and_the_channel(
    desk: Newsroom, client: httpx.AsyncClient, bot_api: FakeBotAPI
) -> None:
    await add_reader(desk, "north-korea", telegram_chat="101")
    body = SAMPLE_STORY.read_text(encoding="utf-8")
    posted = (await client.post("/api/stories", json={"body": body}, headers=AUTH)).json()
    await send_everything(desk)
    channel_post = next(key for key in bot_api.messages if key[0] == OUTLET_CHANNEL)

    assert (await client.patch(f"/api/stories/{posted['id']}", json={"body": body})).status_code == 401
    fixed = body.replace("North Korea", "North Korea's leadership", 1)
    answer = await client.patch(
        f"/api/stories/{posted['id']}", json={"body": fixed, "note": "Wording fixed."}, headers=AUTH
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() | {"notices": None} == {
        "id": posted["id"], "changed": True, "version": 2, "previous_version": 1,
        "edits": 1, "channel_edits": 1, "notices": None,
    }  # fmt: skip
    await send_everything(desk)
    assert "Corrected: Wording fixed." in (bot_api.text_of(101, 1) or "")
    assert "Corrected: Wording fixed." in (bot_api.text_of(*channel_post) or "")
    story = (await client.get(f"/api/stories/{posted['id']}", headers=AUTH)).json()
    assert story["version"] == 2 and story["changes"]["edit"] == {"sent": 1}

    again = await client.patch(f"/api/stories/{posted['id']}", json={"body": fixed}, headers=AUTH)
    assert again.json()["changed"] is False

    retracted = await client.delete(f"/api/stories/{posted['id']}", headers=AUTH, params={"note": "Withdrawn."})
    assert (
        retracted.status_code == 200 and retracted.json()["deleted"] == 1 and retracted.json()["channel_deleted"] == 1
    )
    await send_everything(desk)
    assert (101, 1) in bot_api.deleted and channel_post in bot_api.deleted
    assert (await client.delete(f"/api/stories/{posted['id']}", headers=AUTH)).json()["retracted"] is False
    refused = await client.patch(f"/api/stories/{posted['id']}", json={"body": body}, headers=AUTH)
    assert refused.status_code == 409


async def test_unknown_stories_are_404_and_a_follow_up_of_one_names_the_field(client: httpx.AsyncClient) -> None:
    assert (await client.patch("/api/stories/nope", json={"body": "Text."}, headers=AUTH)).status_code == 404
    assert (await client.delete("/api/stories/nope", headers=AUTH)).status_code == 404
    answer = await client.post("/api/stories", json={"body": "Some text here.", "updates": "nope"}, headers=AUTH)
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", "updates"]
