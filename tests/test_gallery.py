"""The outbox preview (``data/outbox/index.html``): one card per distinct message, whoever got it, with the
plain-text part and a phone-width view; refreshed by ``newsbot deliver`` and ``newsbot run`` too."""

from __future__ import annotations

import html.parser
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from bot.app.config import Settings
from bot.app.newsroom import Newsroom
from bot.channels import build_channels, close_channels
from bot.cli import app
from bot.outbox.digest_planning import queue_weekly_digests
from bot.outbox.worker import DeliveryWorker
from bot.readers.email_signup import request_email_confirmation
from bot.rendering.gallery import PHONE_WIDTH, distinct_messages, write_gallery
from bot.stories.intake import ingest_story, prepare_for
from bot.stories.parsing import read_story_file
from subscribers.schema import Cadence, ChannelName
from tests.email_readers import store_story_at
from tests.newsroom_fixtures import SAMPLE_STORY, add_reader, use_embedded_defaults
from tests.telegram_session import eventually, ingest_sample, running_service

WEEK = "2026-W10"
MONDAY = datetime(2026, 3, 2, 9, tzinfo=UTC)


class Cards(html.parser.HTMLParser):
    """The page's cards, as (channel, kind) of each ``<section class="message">``, and its frames' widths."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.cards: list[tuple[str, str]] = []
        self.iframes = 0
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "section" and "message" in (found.get("class") or ""):
            self.cards.append((found.get("data-channel") or "", found.get("data-kind") or ""))
        if tag == "iframe":
            assert "sandbox" in found
            self.iframes += 1


class AfterTheWeek:
    """A clock a week after `WEEK`, so that week is the last complete one."""

    def now(self) -> datetime:
        return MONDAY + timedelta(days=8)

    async def sleep(self, seconds: float) -> None:
        raise AssertionError("nothing here waits")


async def test_the_preview_shows_one_card_per_distinct_message_with_its_readers(newsroom: Newsroom) -> None:
    for chat in ("201", "202", "203"):
        await add_reader(newsroom, "north-korea", telegram_chat=chat)
    for address in ("one@example.org", "two@example.org"):
        await add_reader(newsroom, "north-korea", email=address, cadences={ChannelName.EMAIL: Cadence.INSTANT})
    await add_reader(newsroom, "sports", email="weekly@example.org")
    await add_reader(newsroom, "sports", telegram_chat="204", cadences={ChannelName.TELEGRAM: Cadence.WEEKLY})
    await store_story_at(newsroom, MONDAY, "falcons", "Fairview Falcons win the cup", "sports")
    story = prepare_for(newsroom, read_story_file(SAMPLE_STORY, newsroom.settings.max_story_bytes), source="test")
    await ingest_story(newsroom, story)
    await queue_weekly_digests(newsroom, WEEK, clock=AfterTheWeek())
    channels = build_channels(newsroom.settings, live=False)
    try:
        await request_email_confirmation(newsroom, channels["email"], address="new@example.org", topics=["local"])
        await DeliveryWorker(newsroom, channels).drain()
    finally:
        await close_channels(channels)

    page = write_gallery(newsroom.renderer.environment, newsroom.settings.outbox_dir).read_text(encoding="utf-8")
    found = Cards(page)
    assert sorted(found.cards) == sorted(
        [
            ("telegram", "story"),
            ("email", "story"),
            ("telegram", "digest"),
            ("email", "digest"),
            ("email", "confirmation"),
        ]
    )
    shown = {(m.channel, m.kind): m for m in distinct_messages(newsroom.settings.outbox_dir)}
    assert sorted(shown["telegram", "story"].recipients) == ["201", "202", "203"]
    assert sorted(shown["email", "story"].recipients) == ["one@example.org", "two@example.org"]
    assert "Read more" in [label for row in shown["telegram", "story"].buttons for label in row]
    assert '<span class="button">Read more</span>' in page  # the keyboard under the chat bubble
    assert story.title.split()[0] in shown["email", "story"].text  # the plain-text part, beside the phone view
    assert "to 3 readers: 201, 202, 203" in page and "to 2 readers: one@example.org, two@example.org" in page
    assert "Plain-text part" in page and f"width: {PHONE_WIDTH}px" in page
    assert found.iframes == 3  # one frame per distinct email, not one per reader
    assert "<h1>newsbot outbox: 5 distinct messages, 8 sent</h1>" in page


def test_newsbot_deliver_refreshes_the_preview(tmp_path: Path, monkeypatch) -> None:
    use_embedded_defaults(tmp_path, monkeypatch)
    runner = CliRunner()
    for chat in ("301", "302"):
        assert (
            runner.invoke(app, ["subscribers", "add", "--telegram-chat", chat, "--topic", "north-korea"]).exit_code == 0
        )
    assert runner.invoke(app, ["ingest", str(SAMPLE_STORY)]).exit_code == 0
    delivered = runner.invoke(app, ["deliver"])
    assert delivered.exit_code == 0, delivered.output
    page = tmp_path / "data" / "outbox" / "index.html"
    assert delivered.stdout.splitlines()[-1] == "Every rendered message: data/outbox/index.html"
    assert Cards(page.read_text(encoding="utf-8")).cards == [("telegram", "story")]
    assert "to 2 readers: 301, 302" in page.read_text(encoding="utf-8")


async def test_newsbot_run_refreshes_the_preview_after_sending(settings: Settings) -> None:
    newsroom_settings = settings.model_copy(update={"web_port": 0})
    page = settings.outbox_dir / "index.html"
    async with running_service(newsroom_settings) as service:
        assert service.newsroom is not None
        await add_reader(service.newsroom, "north-korea", telegram_chat="401")
        await ingest_sample(_Session(service))
        shown = await eventually(
            lambda: page.exists() and "to 1 reader: 401" in page.read_text(encoding="utf-8"),
            what="the preview to show the story sent by the running service",
        )
    assert shown


class _Session:
    """What `ingest_sample` needs of a chat session: the running service and its newsroom."""

    def __init__(self, service) -> None:
        self.service = service
        self.newsroom = service.newsroom
