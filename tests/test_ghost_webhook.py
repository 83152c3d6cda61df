"""The Ghost webhook as Ghost calls it: signed post.published and post.published.edited payloads over HTTP (httpx
against the app), a real store, and the delivery worker sending to the fake Bot API."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.app.config import Settings, load_settings
from bot.app.errors import ConfigurationError
from bot.app.newsroom import Newsroom
from bot.outbox.worker import DeliveryWorker
from bot.web import create_app
from bot.web.ghost_webhook import SIGNATURE_HEADER, ghost_signature
from subscribers import audit as audit_store
from subscribers import stories as stories_store
from subscribers.schema import deliveries, stories
from tests.fakes import FakeBotAPI
from tests.fakes.clock import ManualClock
from tests.newsroom_fixtures import add_reader

SECRET = "ghost-webhook-secret-of-32-characters-or-more"
PUBLISHED = json.loads((Path(__file__).parent / "ghost_post_published.json").read_text(encoding="utf-8"))
GHOST_ID = PUBLISHED["post"]["current"]["id"]
TITLE = "Riverside library reopens after two-year rebuild"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared test settings with the Ghost webhook's secret configured."""
    return settings.model_copy(update={"ghost_webhook_secret": SECRET})


@pytest.fixture
async def ghost(live: tuple[Newsroom, DeliveryWorker]) -> AsyncIterator[httpx.AsyncClient]:
    newsroom, _ = live
    newsroom.clock = ManualClock()
    transport = httpx.ASGITransport(app=create_app(newsroom))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        yield http


def ghost_body(payload: dict[str, Any]) -> bytes:
    """The body as Ghost sends it: JSON.stringify, compact, UTF-8."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


async def send(
    client: httpx.AsyncClient,
    newsroom: Newsroom,
    payload: dict[str, Any] | bytes,
    *,
    secret: str = SECRET,
    signed_at_ms: int | None = None,
    signature: str | None = None,
    query: str = "",
) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else ghost_body(payload)
    stamp = signed_at_ms if signed_at_ms is not None else int(newsroom.clock.now().timestamp() * 1000)
    headers = {"Content-Type": "application/json", "Content-Version": "v6.0"}
    headers[SIGNATURE_HEADER] = signature if signature is not None else ghost_signature(secret, body, stamp)
    return await client.post(f"/api/hooks/ghost{query}", content=body, headers=headers)


def edited(payload: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """A post.published.edited payload: the text changed, ``previous`` holds the fields that did, status does not."""
    changed = copy.deepcopy(payload)
    current = changed["post"]["current"]
    previous = {"html": current["html"], "plaintext": current["plaintext"], "updated_at": current["updated_at"]}
    current["html"] = current["html"].replace(old, new)
    current["plaintext"] = current["plaintext"].replace(old, new)
    current["updated_at"] = "2026-11-28T10:02:17.000Z"
    changed["post"]["previous"] = previous
    return changed


def with_current(payload: dict[str, Any], **fields: Any) -> dict[str, Any]:
    changed = copy.deepcopy(payload)
    changed["post"]["current"].update(fields)
    return changed


async def count(newsroom: Newsroom, table: Any) -> int:
    async with newsroom.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


async def test_a_signed_post_published_is_planned_and_reaches_the_reader_following_its_tag(
    live: tuple[Newsroom, DeliveryWorker], ghost: httpx.AsyncClient, bot_api: FakeBotAPI
) -> None:
    newsroom, worker = live
    await add_reader(newsroom, "local", telegram_chat="601")
    await add_reader(newsroom, "sports", telegram_chat="602")

    answer = await send(ghost, newsroom, PUBLISHED)

    assert answer.status_code == 201, answer.text
    out = answer.json()
    assert out["event"] == "post.published" and out["outcome"] == "created"
    assert "local" in out["topics"]  # the Ghost tag "Metro" is an alias of the local topic
    assert out["ignored_tags"] == ["Libraries", "#frontpage"]  # unknown tags are named, not an error
    assert out["recipients"] == {"telegram": 1, "email": 0}
    async with newsroom.reader.connect() as conn:
        story = await stories_store.load_story_by_external_id(conn, f"ghost:{GHOST_ID}", dict)
        entries = await audit_store.list_audit_entries(conn, 5)
    assert story is not None and story["id"] == out["id"] and story["source"] == "ghost"
    assert story["title"] == TITLE and story["url"] == "https://fairview-gazette.example/riverside-library-reopens/"
    assert story["author"] == "Dana Whitfield"
    assert "[farmers' market](https://fairview-gazette.example/tags/metro/)" in story["body"]  # read as HTML
    assert "<p>" not in story["body"] and "kg-card" not in story["body"]
    assert entries[0].actor == "ghost" and entries[0].subject == out["id"]

    await worker.drain()
    sent = bot_api.sent_to(601)
    assert len(sent) == 1 and TITLE in sent[0]
    assert bot_api.sent_to(602) == []


async def test_a_publish_ghost_sends_again_is_a_duplicate_and_queues_nothing(
    live: tuple[Newsroom, DeliveryWorker], ghost: httpx.AsyncClient
) -> None:
    newsroom, _ = live
    await add_reader(newsroom, "local", telegram_chat="601")
    first = await send(ghost, newsroom, PUBLISHED)
    again = await send(ghost, newsroom, PUBLISHED)

    assert first.status_code == 201 and again.status_code == 200, again.text
    assert again.json()["outcome"] == "duplicate" and again.json()["id"] == first.json()["id"]
    assert again.json()["recipients"] == {"telegram": 0, "email": 0}
    assert await count(newsroom, stories) == 1 and await count(newsroom, deliveries) == 1


async def test_an_edit_in_ghost_corrects_the_story_and_edits_the_telegram_copy_in_place(
    live: tuple[Newsroom, DeliveryWorker], ghost: httpx.AsyncClient, bot_api: FakeBotAPI
) -> None:
    newsroom, worker = live
    await add_reader(newsroom, "local", telegram_chat="601")
    story_id = (await send(ghost, newsroom, PUBLISHED)).json()["id"]
    await worker.drain()
    async with newsroom.engine.connect() as conn:
        sent_id = (await conn.execute(select(deliveries.c.provider_id))).scalar_one()
    fixed = edited(PUBLISHED, "8 million dollars", "18 million dollars")

    answer = await send(ghost, newsroom, fixed)  # no ?event=: the payload says it is an edit

    assert answer.status_code == 200, answer.text
    out = answer.json()
    assert out["event"] == "post.published.edited" and out["outcome"] == "corrected"
    assert out["id"] == story_id and out["edits"] == 1
    await worker.drain()
    edits = bot_api.calls_to("editMessageText")
    assert len(edits) == 1 and (edits[0]["chat_id"], str(edits[0]["message_id"])) == (601, sent_id)
    text = bot_api.text_of(601, int(edits[0]["message_id"])) or ""
    assert "18 million dollars" in text
    assert len(bot_api.sent_to(601)) == 1  # edited in place, not sent again
    assert await count(newsroom, stories) == 1

    same = await send(ghost, newsroom, fixed)
    assert same.json()["outcome"] == "unchanged" and same.json()["edits"] == 0
    await worker.drain()
    assert len(bot_api.calls_to("editMessageText")) == 1


async def test_the_event_can_be_named_on_the_target_url_and_an_unknown_one_is_refused(
    live: tuple[Newsroom, DeliveryWorker], ghost: httpx.AsyncClient
) -> None:
    newsroom, _ = live
    # An edit of a post newsbot never got is taken as a new story.
    first = await send(ghost, newsroom, PUBLISHED, query="?event=post.published.edited")
    assert first.status_code == 201 and first.json()["event"] == "post.published.edited"
    assert first.json()["outcome"] == "created"
    # Named as a publish, an edited text of a known post is a duplicate: Ghost said it is a (re-sent) publish.
    publish = await send(ghost, newsroom, edited(PUBLISHED, "8 million", "9 million"), query="?event=post.published")
    assert publish.json()["outcome"] == "duplicate"

    wrong = await send(ghost, newsroom, PUBLISHED, query="?event=post.deleted")
    assert wrong.status_code == 422
    assert wrong.json()["detail"][0]["loc"] == ["query", "event"]


async def test_forged_missing_and_malformed_signatures_are_refused_and_nothing_is_stored(
    live: tuple[Newsroom, DeliveryWorker], ghost: httpx.AsyncClient
) -> None:
    newsroom, _ = live
    body = ghost_body(PUBLISHED)
    stamp = int(newsroom.clock.now().timestamp() * 1000)
    tampered = body.replace(b"8 million", b"80 million")
    moved_stamp = ghost_signature(SECRET, body, stamp).replace(f"t={stamp}", f"t={stamp - 1000}")
    refusals = [
        await send(ghost, newsroom, PUBLISHED, secret="another-secret-of-thirty-two-characters"),
        await send(ghost, newsroom, tampered, signature=ghost_signature(SECRET, body, stamp)),
        await send(ghost, newsroom, PUBLISHED, signature=moved_stamp),  # the timestamp is signed too
        await send(ghost, newsroom, PUBLISHED, signature="sha256=" + "0" * 64),
        await send(ghost, newsroom, PUBLISHED, signature=""),
    ]
    assert [answer.status_code for answer in refusals] == [401] * 5
    assert "does not match" in refusals[0].json()["detail"]
    assert "not of the form" in refusals[3].json()["detail"]
    assert "missing X-Ghost-Signature" in refusals[4].json()["detail"]
    assert await count(newsroom, stories) == 0


async def test_a_stale_or_replayed_signature_is_refused(
    live: tuple[Newsroom, DeliveryWorker], ghost: httpx.AsyncClient
) -> None:
    newsroom, _ = live
    clock = newsroom.clock
    assert isinstance(clock, ManualClock)
    body = ghost_body(PUBLISHED)
    signed = int(clock.now().timestamp() * 1000)
    old = int((clock.now() - timedelta(minutes=6)).timestamp() * 1000)

    stale = await send(ghost, newsroom, body, signed_at_ms=old)
    assert stale.status_code == 401 and "replayed" in stale.json()["detail"]

    clock.advance(minutes=5, seconds=1)  # the same valid request, sent again later
    replayed = await send(ghost, newsroom, body, signed_at_ms=signed)
    assert replayed.status_code == 401
    assert await count(newsroom, stories) == 0

    clock.advance(minutes=-1)
    assert (await send(ghost, newsroom, body, signed_at_ms=signed)).status_code == 201


async def test_without_a_secret_the_webhook_is_disabled(
    live: tuple[Newsroom, DeliveryWorker], ghost: httpx.AsyncClient
) -> None:
    newsroom, _ = live
    newsroom.settings = newsroom.settings.model_copy(update={"ghost_webhook_secret": ""})
    answer = await send(ghost, newsroom, PUBLISHED)
    assert answer.status_code == 404
    assert "NEWSBOT_GHOST_WEBHOOK_SECRET" in answer.json()["detail"]
    assert await count(newsroom, stories) == 0


def test_a_short_secret_is_refused_at_start_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSBOT_GHOST_WEBHOOK_SECRET", "too-short")
    with pytest.raises(ConfigurationError, match="NEWSBOT_GHOST_WEBHOOK_SECRET: must be at least 32 characters"):
        load_settings()


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"status": "draft", "published_at": None}, "status is 'draft'"),
        ({"status": "scheduled"}, "status is 'scheduled'"),
        ({"visibility": "paid"}, "visibility is 'paid'"),
        ({"visibility": "members"}, "visibility is 'members'"),
    ],
)
async def test_a_post_not_published_or_not_public_is_answered_ignored_so_ghost_does_not_retry(
    live: tuple[Newsroom, DeliveryWorker], ghost: httpx.AsyncClient, fields: dict[str, Any], why: str
) -> None:
    newsroom, _ = live
    answer = await send(ghost, newsroom, with_current(PUBLISHED, **fields))
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "ignored" and why in answer.json()["reason"]
    assert await count(newsroom, stories) == 0


async def test_malformed_payloads_are_422_naming_the_field(
    live: tuple[Newsroom, DeliveryWorker], ghost: httpx.AsyncClient
) -> None:
    newsroom, _ = live
    cases: list[tuple[dict[str, Any] | bytes, list[object]]] = [
        (b'{"post": {"current": ', ["body"]),
        (b"\xff\xfe not utf-8", ["body"]),
        ({"page": {"current": {"id": "x"}}}, ["body", "post"]),
        ({"post": {"current": {}, "previous": PUBLISHED["post"]["current"]}}, ["body", "post", "current"]),
        (with_current(PUBLISHED, id=None), ["body", "post", "current", "id"]),
        (with_current(PUBLISHED, html="", plaintext=None), ["body", "post", "current", "html"]),
        (with_current(PUBLISHED, url="javascript:alert(1)"), ["body", "post", "current", "url"]),
        (with_current(PUBLISHED, published_at="yesterday"), ["body", "post", "current", "published_at"]),
        (with_current(PUBLISHED, title=["not", "text"]), ["body", "post", "current", "title"]),
    ]
    for payload, loc in cases:
        answer = await send(ghost, newsroom, payload)
        assert answer.status_code == 422, (loc, answer.text)
        assert answer.json()["detail"][0]["loc"] == loc
    assert await count(newsroom, stories) == 0


async def test_a_body_or_a_post_over_the_limits_is_413(
    live: tuple[Newsroom, DeliveryWorker], ghost: httpx.AsyncClient
) -> None:
    newsroom, _ = live
    html = PUBLISHED["post"]["current"]["html"]
    newsroom.settings = newsroom.settings.model_copy(update={"max_story_bytes": len(html) - 1})
    too_long_post = await send(ghost, newsroom, PUBLISHED)
    assert too_long_post.status_code == 413 and "NEWSBOT_MAX_STORY_BYTES" in too_long_post.json()["detail"]

    newsroom.settings = newsroom.settings.model_copy(update={"max_api_body_bytes": 1000})
    too_large = await send(ghost, newsroom, PUBLISHED)
    assert too_large.status_code == 413 and "NEWSBOT_MAX_API_BODY_BYTES" in too_large.json()["detail"]
    assert await count(newsroom, stories) == 0


async def test_a_post_dated_in_the_future_waits_until_then(
    live: tuple[Newsroom, DeliveryWorker], ghost: httpx.AsyncClient, bot_api: FakeBotAPI
) -> None:
    newsroom, worker = live
    await add_reader(newsroom, "local", telegram_chat="601")
    later = newsroom.clock.now() + timedelta(hours=2)
    answer = await send(ghost, newsroom, with_current(PUBLISHED, published_at=later.isoformat()))

    assert answer.status_code == 201, answer.text
    async with newsroom.reader.connect() as conn:
        story = await stories_store.load_story(conn, answer.json()["id"], dict)
    assert story is not None and story["publish_at"] == later
    await worker.drain(wait_for_retries=0)
    assert bot_api.sent_to(601) == []
