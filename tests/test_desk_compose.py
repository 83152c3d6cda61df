"""The desk's Compose → Preview → Send over HTTP: previews are what readers get, breaking asks with its reach,
Send goes through the one intake and is audited as the account."""

from __future__ import annotations

from bot.app.newsroom import Newsroom
from subscribers import deliveries, stories
from subscribers.audit import list_audit_entries
from subscribers.schema import Cadence, ChannelName
from tests.desk_sessions import EDITOR_EMAIL, csrf_of, desk_client
from tests.newsroom_fixtures import SAMPLE_STORY, add_reader

SAMPLE = SAMPLE_STORY.read_text(encoding="utf-8")


async def test_a_signed_out_visitor_is_sent_to_sign_in(newsroom: Newsroom) -> None:
    from tests.email_readers import web_client

    async with web_client(newsroom) as client:
        answer = await client.get("/desk")
    assert answer.status_code == 303 and answer.headers["location"] == "/desk/login"


async def test_preview_shows_every_channel_and_the_reach_and_stores_nothing(newsroom: Newsroom) -> None:
    await add_reader(newsroom, "north-korea", telegram_chat="1001")
    await add_reader(newsroom, "north-korea", email="reader@example.org", cadences={ChannelName.EMAIL: Cadence.INSTANT})
    async with desk_client(newsroom) as client:
        form = await client.get("/desk")
        assert form.status_code == 200 and "no-store" in form.headers["cache-control"]
        token = csrf_of(form.text)
        shown = await client.post("/desk/preview", data={"csrf_token": token, "body": SAMPLE})
    assert shown.status_code == 200
    page = shown.text
    assert 'class="bubble"' in page and "srcdoc=" in page and "Plain-text part" in page
    assert 'class="phone"' in page and 'class="wide"' in page
    assert 'value="north-korea" checked' in page  # the tagger's suggestion is ticked
    assert "<strong>1</strong> telegram" in page and "<strong>1</strong> email" in page
    async with newsroom.reader.connect() as conn:
        assert await stories.list_recent_stories(conn) == []


async def test_an_empty_body_is_refused_naming_the_field_and_keeping_what_was_typed(newsroom: Newsroom) -> None:
    async with desk_client(newsroom) as client:
        token = csrf_of((await client.get("/desk")).text)
        answer = await client.post("/desk/preview", data={"csrf_token": token, "body": "  ", "title": "Kept headline"})
    assert answer.status_code == 422
    assert "Body:" in answer.text and 'value="Kept headline"' in answer.text


async def test_a_bad_schedule_time_is_refused_naming_send_at(newsroom: Newsroom) -> None:
    async with desk_client(newsroom) as client:
        token = csrf_of((await client.get("/desk")).text)
        answer = await client.post(
            "/desk/preview", data={"csrf_token": token, "body": SAMPLE, "publish_at": "next tuesday"}
        )
    assert answer.status_code == 422 and "Publish at:" in answer.text


async def test_breaking_asks_with_its_reach_then_sends_audited_as_the_account(newsroom: Newsroom) -> None:
    await add_reader(newsroom, "north-korea", telegram_chat="1001")
    await add_reader(newsroom, "north-korea", telegram_chat="1002")
    async with desk_client(newsroom) as client:
        token = csrf_of((await client.get("/desk")).text)
        fields = {"csrf_token": token, "body": SAMPLE, "breaking": "1", "topics_shown": "1", "topic": "north-korea"}
        asked = await client.post("/desk/send", data=fields)
        assert asked.status_code == 200 and "Yes, send to 2 readers" in asked.text
        async with newsroom.reader.connect() as conn:
            assert await stories.list_recent_stories(conn) == []
        sent = await client.post("/desk/send", data={**fields, "confirmed": "2"})
    assert sent.status_code == 303
    story_id = sent.headers["location"].split("/")[-1].split("?")[0]
    async with newsroom.reader.connect() as conn:
        assert (await deliveries.count_story_deliveries(conn, story_id))["telegram"] == 2
        (entry, *_) = await list_audit_entries(conn)
    assert entry.action == "push" and entry.actor == f"desk:{EDITOR_EMAIL}"


async def test_unticking_every_topic_warns_that_it_reaches_nobody(newsroom: Newsroom) -> None:
    async with desk_client(newsroom) as client:
        token = csrf_of((await client.get("/desk")).text)
        shown = await client.post("/desk/preview", data={"csrf_token": token, "body": SAMPLE, "topics_shown": "1"})
    assert "reaches nobody" in shown.text and 'value="north-korea" checked' not in shown.text


async def test_a_post_without_the_csrf_token_changes_nothing(newsroom: Newsroom) -> None:
    async with desk_client(newsroom) as client:
        answer = await client.post("/desk/send", data={"body": SAMPLE, "csrf_token": "forged"})
    assert answer.status_code == 403
    async with newsroom.reader.connect() as conn:
        assert await stories.list_recent_stories(conn) == []
