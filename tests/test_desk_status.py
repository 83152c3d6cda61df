"""The desk's Status and Audit pages over HTTP."""

from __future__ import annotations

from bot.app.newsroom import Newsroom
from tests.desk_sessions import EDITOR_EMAIL, csrf_of, desk_client
from tests.newsroom_fixtures import SAMPLE_STORY, add_reader


async def test_status_shows_the_queue_and_that_no_worker_runs(newsroom: Newsroom) -> None:
    await add_reader(newsroom, "north-korea", telegram_chat="1001")
    async with desk_client(newsroom) as client:
        token = csrf_of((await client.get("/desk")).text)
        await client.post("/desk/send", data={"csrf_token": token, "body": SAMPLE_STORY.read_text(encoding="utf-8")})
        page = await client.get("/desk/status")
    assert page.status_code == 200
    assert "Every channel is reachable" in page.text and "No delivery worker is running" in page.text
    assert "<td>telegram</td>" in page.text


async def test_audit_filters_by_account_action_and_date(newsroom: Newsroom) -> None:
    async with desk_client(newsroom) as client:
        token = csrf_of((await client.get("/desk")).text)
        await client.post("/desk/send", data={"csrf_token": token, "body": SAMPLE_STORY.read_text(encoding="utf-8")})
        today = newsroom.clock.now().strftime("%Y-%m-%d")
        mine = await client.get("/desk/audit", params={"actor": "desk:", "action": "story", "since": today})
        others = await client.get("/desk/audit", params={"actor": "telegram:"})
        bad = await client.get("/desk/audit", params={"since": "yesterday"})
    assert f"desk:{EDITOR_EMAIL}" in mine.text and "<td>story</td>" in mine.text
    assert "No entry matches" in others.text
    assert bad.status_code == 422 and "is not a date such as" in bad.text


async def test_the_digest_page_shows_this_week_so_far_for_the_chosen_topics(newsroom: Newsroom) -> None:
    async with desk_client(newsroom) as client:
        empty = await client.get("/desk/digest", params={"topic": "north-korea"})
        token = csrf_of((await client.get("/desk")).text)
        await client.post("/desk/send", data={"csrf_token": token, "body": SAMPLE_STORY.read_text(encoding="utf-8")})
        shown = await client.get("/desk/digest", params={"topic": "north-korea"})
        unknown = await client.get("/desk/digest", params={"topic": "no-such-topic"})
    assert "No story for these topics" in empty.text
    assert 'class="bubble"' in shown.text and "srcdoc=" in shown.text
    assert "once their own week (Monday to Sunday there) is over" in shown.text
    assert unknown.status_code == 422
