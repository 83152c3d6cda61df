"""The desk's stories over HTTP: the list by state with progress, a story's page, and stop, resume, correct,
retract and schedule through the story-life services, audited as the account."""

from __future__ import annotations

from datetime import timedelta

import httpx

from bot.app.newsroom import Newsroom
from subscribers import story_states
from subscribers.audit import list_audit_entries
from tests.desk_sessions import EDITOR_EMAIL, csrf_of, desk_client
from tests.newsroom_fixtures import SAMPLE_STORY, add_reader

SAMPLE = SAMPLE_STORY.read_text(encoding="utf-8")


async def _send(client: httpx.AsyncClient, **fields: str) -> tuple[str, str]:
    token = csrf_of((await client.get("/desk")).text)
    sent = await client.post("/desk/send", data={"csrf_token": token, "body": SAMPLE, **fields})
    assert sent.status_code == 303, sent.text
    return sent.headers["location"].split("/")[-1].split("?")[0], token


async def test_a_sent_story_is_listed_as_sending_with_its_progress_and_refreshes(newsroom: Newsroom) -> None:
    await add_reader(newsroom, "north-korea", telegram_chat="1001")
    async with desk_client(newsroom) as client:
        story_id, _ = await _send(client)
        listing = await client.get("/desk/stories")
        page = await client.get(f"/desk/stories/{story_id}?done=sent")
    assert 'id="sending"' in listing.text and 'http-equiv="refresh"' in listing.text
    assert "0 of 1" in listing.text
    assert ">Sending<" in page.text and "Stop sending" in page.text and "Sent: the story is queued" in page.text


async def test_stop_then_resume_from_the_story_page(newsroom: Newsroom) -> None:
    await add_reader(newsroom, "north-korea", telegram_chat="1001")
    async with desk_client(newsroom) as client:
        story_id, token = await _send(client)
        stopped = await client.post(f"/desk/stories/{story_id}/stop", data={"csrf_token": token})
        assert stopped.status_code == 303
        page = await client.get(stopped.headers["location"])
        assert ">Stopped<" in page.text and "Resume" in page.text and "http-equiv" not in page.text
        resumed = await client.post(f"/desk/stories/{story_id}/resume", data={"csrf_token": token})
        assert ">Sending<" in (await client.get(resumed.headers["location"])).text
    async with newsroom.reader.connect() as conn:
        assert (await story_states.load_story_state(conn, story_id)).stopped_at is None  # type: ignore[union-attr]
        actions = [(e.action, e.actor) for e in await list_audit_entries(conn)]
    assert ("stop", f"desk:{EDITOR_EMAIL}") in actions and ("resume", f"desk:{EDITOR_EMAIL}") in actions


async def test_a_correction_makes_version_two_and_lists_the_first(newsroom: Newsroom) -> None:
    async with desk_client(newsroom) as client:
        story_id, token = await _send(client)
        corrected = await client.post(
            f"/desk/stories/{story_id}/correct",
            data={
                "csrf_token": token,
                "title": "Corrected headline",
                "body": SAMPLE + "\nOne more line.",
                "note": "Typo",
            },
        )
        page = await client.get(corrected.headers["location"])
    assert "Corrected: Telegram copies" in page.text and "version 2" in page.text and "Corrected headline" in page.text
    assert "note: " not in page.text or "Typo" in page.text


async def test_retract_asks_first_then_withdraws_and_offers_no_more_actions(newsroom: Newsroom) -> None:
    async with desk_client(newsroom) as client:
        story_id, token = await _send(client)
        asked = await client.get(f"/desk/stories/{story_id}/retract")
        assert "cannot be taken back" in asked.text
        done = await client.post(f"/desk/stories/{story_id}/retract", data={"csrf_token": token, "note": "Wrong"})
        page = await client.get(done.headers["location"])
        refused = await client.post(f"/desk/stories/{story_id}/resume", data={"csrf_token": token})
    assert ">Withdrawn<" in page.text and "Correct the story" not in page.text
    assert refused.status_code == 409 and "cannot resume" in refused.text


async def test_a_scheduled_story_can_be_moved_and_cancelled(newsroom: Newsroom) -> None:
    later = (newsroom.clock.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    async with desk_client(newsroom) as client:
        story_id, token = await _send(client, publish_at=later)
        page = await client.get(f"/desk/stories/{story_id}")
        assert ">Scheduled<" in page.text and "goes out" in page.text
        bad = await client.post(f"/desk/stories/{story_id}/schedule", data={"csrf_token": token, "publish_at": "soon"})
        assert bad.status_code == 422 and "Send at:" in bad.text
        cancelled = await client.post(f"/desk/stories/{story_id}/schedule", data={"csrf_token": token, "cancel": "1"})
        assert ">Withdrawn<" in (await client.get(cancelled.headers["location"])).text


async def test_an_unknown_story_is_a_404_page(newsroom: Newsroom) -> None:
    async with desk_client(newsroom) as client:
        answer = await client.get("/desk/stories/nope")
    assert answer.status_code == 404 and "no story with id" in answer.text.lower()
