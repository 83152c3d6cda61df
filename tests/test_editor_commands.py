"""Editors push stories from Telegram (the bot's Application against the fake Bot API), the CLI and the API.

Telegram updates are pushed into the fake Bot API in the real Bot API JSON shape and handed to the bot's
Application one at a time, so every step is deterministic; everything the bot says goes over real HTTP.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from bot.app.config import Settings, load_settings
from bot.app.errors import ConfigurationError
from bot.app.newsroom import Newsroom
from bot.cli import app as cli_app
from bot.outbox.social import SocialPoster
from bot.outbox.worker import DeliveryWorker
from bot.stories.story import Story
from bot.web import create_app
from subscribers import stories as stories_store
from subscribers.schema import audit_log, deliveries, social_posts, stories
from tests.editor_fixtures import (  # noqa: F401  (the *_fixture names are fixtures used by name)
    API_TOKEN,
    EDITOR,
    OTHER_EDITOR,
    OUTLET_CHANNEL,
    READER,
    EditorChat,
    buttons,
    desk_clock_fixture,
    editor_chat_fixture,
    readers_fixture,
    sample_story,
)
from tests.fakes import FakeBotAPI, SmtpSink
from tests.fakes.bot_api import MAX_MESSAGE_LENGTH
from tests.fakes.clock import ManualClock
from tests.fakes.http_endpoints import Webhook
from tests.newsroom_fixtures import SAMPLE_STORY, add_reader, paced_channels


async def count(newsroom: Newsroom, table: Any) -> int:
    async with newsroom.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


async def audit_entries(newsroom: Newsroom) -> list[Any]:
    async with newsroom.engine.connect() as conn:
        return list(await conn.execute(select(audit_log).order_by(audit_log.c.id)))


SAMPLE = SAMPLE_STORY.read_text(encoding="utf-8")


# --- /push and /story ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("readers")
async def test_push_previews_the_exact_reader_message_with_topics_and_counts_and_sends_nothing_yet(
    desk: Newsroom, editor_chat: EditorChat
) -> None:
    (ask,) = await editor_chat.send("/push")
    assert "Send the story" in ask

    preview, panel_text = await editor_chat.send(SAMPLE)

    expected = desk.renderer.telegram_message(sample_story(desk, breaking=True))
    assert preview == expected and "BREAKING" in preview
    assert "telegram 2, email 1 (total 3)" in panel_text
    assert "Nothing goes out until you press Send" in panel_text
    labels = [text for text, _ in buttons(editor_chat.panel())]
    assert labels == [
        "✅ North Korea",
        "✅ US Politics",
        "✅ Russia",
        "➕ More topics",
        "✏️ Headline",
        "🕒 Schedule",
        "Send to 3 readers",
        "Cancel",
    ]
    assert await count(desk, stories) == 0 and await count(desk, deliveries) == 0


@pytest.mark.usefixtures("readers")
async def test_send_queues_the_breaking_story_for_every_follower_and_audits_who_sent_it(
    desk: Newsroom, editor_chat: EditorChat
) -> None:
    await editor_chat.send("/push\n" + SAMPLE)

    answer = await editor_chat.tap(editor_chat.panel(), "Send to")

    assert answer["text"] == "Sent"
    closed = [m for (chat, _), m in editor_chat.api.messages.items() if chat == EDITOR and "✅ Sent" in m["text"]]
    assert len(closed) == 1 and "telegram 2, email 1 (total 3)" in closed[0]["text"]
    assert [text for text, _ in buttons(closed[0])] == ["⏹ Stop sending"]  # Send and the topics are gone
    async with desk.engine.connect() as conn:
        rows = list(await conn.execute(select(deliveries.c.channel, deliveries.c.priority)))
        (story,) = list(await conn.execute(select(stories)))
    assert sorted(channel for channel, _ in rows) == ["email", "telegram", "telegram"]
    assert story.breaking is True and story.source == "telegram"
    (entry,) = await audit_entries(desk)
    assert entry.actor == f"telegram:{EDITOR}" and entry.action == "push" and entry.recipients == 3
    assert entry.subject == story.id and entry.at is not None
    assert json.loads(entry.details)["recipients"] == {"telegram": 2, "email": 1}


@pytest.mark.usefixtures("readers")
async def test_toggling_a_topic_updates_the_preview_and_the_counts(desk: Newsroom, editor_chat: EditorChat) -> None:
    await editor_chat.send("/story " + SAMPLE)
    panel = editor_chat.panel()
    preview_before = editor_chat.message(EDITOR, panel["message_id"] - 1)["text"]
    assert "#Russia" in preview_before and "BREAKING" not in preview_before

    await editor_chat.tap(panel, "Russia")

    panel = editor_chat.panel()
    assert [text for text, _ in buttons(panel)][:3] == ["✅ North Korea", "✅ US Politics", "⬜ Russia"]
    assert "#Russia" not in editor_chat.message(EDITOR, panel["message_id"] - 1)["text"]

    await editor_chat.tap(panel, "North Korea")
    panel = editor_chat.panel()
    assert "telegram 0, email 0 (total 0)" in panel["text"]  # nobody here follows the remaining topic
    await editor_chat.tap(panel, "North Korea")
    await editor_chat.tap(editor_chat.panel(), "Send to")

    async with desk.engine.connect() as conn:
        (story_id,) = (await conn.execute(select(stories.c.id))).scalars()
        loaded = await stories_store.load_story(conn, story_id, Story)
    assert loaded is not None and loaded.topics == ("north-korea", "us-politics") and loaded.breaking is False
    # a normal story reaches instant readers only: the weekly chat waits for the digest
    assert await count(desk, deliveries) == 2


async def test_send_without_any_topic_is_refused(desk: Newsroom, editor_chat: EditorChat) -> None:
    await editor_chat.send("/story Our reporter met an old friend on Monday and they talked for an hour about nothing.")
    panel = editor_chat.panel()
    assert [text for text, _ in buttons(panel)] == [
        "➕ More topics",
        "✏️ Headline",
        "🕒 Schedule",
        "Send to 0 readers",
        "Cancel",
    ]
    assert "No topic: nobody would receive this story. Tap a topic or More topics" in panel["text"]
    answer = await editor_chat.tap(panel, "Send to")
    assert "Choose at least one topic" in answer["text"] and answer["show_alert"] is True
    assert await count(desk, stories) == 0


@pytest.mark.usefixtures("readers")
async def test_cancel_sends_nothing_and_is_in_the_audit_log(desk: Newsroom, editor_chat: EditorChat) -> None:
    await editor_chat.send("/push " + SAMPLE)
    panel = editor_chat.panel()

    await editor_chat.tap(panel, "Cancel")

    assert editor_chat.message(EDITOR, panel["message_id"])["text"] == "Cancelled: nothing was sent."
    assert await count(desk, stories) == 0 and await count(desk, deliveries) == 0
    (entry,) = await audit_entries(desk)
    assert (entry.actor, entry.action, entry.recipients) == (f"telegram:{EDITOR}", "push.cancelled", 0)
    again = await editor_chat.tap_data(panel, buttons(panel)[-2][1])  # Send on the cancelled draft
    assert "closed" in again["text"] and await count(desk, stories) == 0


async def test_cancel_command_drops_the_open_draft(desk: Newsroom, editor_chat: EditorChat) -> None:
    await editor_chat.send("/push")
    assert await editor_chat.send("/cancel") == ["Cancelled: nothing was sent."]
    replies = await editor_chat.send(SAMPLE)  # no longer a draft: the reader side answers free text
    assert await count(desk, stories) == 0 and not any("Send to" in r for r in replies)


@pytest.mark.usefixtures("readers")
async def test_a_second_tap_on_send_sends_nothing_twice(desk: Newsroom, editor_chat: EditorChat) -> None:
    await editor_chat.send("/push " + SAMPLE)
    panel = editor_chat.panel()
    send = next(data for text, data in buttons(panel) if text.startswith("Send to"))
    await editor_chat.tap_data(panel, send)
    again = await editor_chat.tap_data(panel, send)
    assert "closed" in again["text"]
    assert await count(desk, deliveries) == 3 and len(await audit_entries(desk)) == 1


@pytest.mark.usefixtures("readers")
async def test_pushing_an_already_published_story_says_so_and_reaches_nobody(
    desk: Newsroom, editor_chat: EditorChat
) -> None:
    await editor_chat.send("/push " + SAMPLE)
    await editor_chat.tap(editor_chat.panel(), "Send to")
    await editor_chat.send("/push " + SAMPLE)
    assert "already published" in editor_chat.panel()["text"]
    answer = await editor_chat.tap(editor_chat.panel(), "Send to")
    assert answer["text"] == "Already published"
    assert await count(desk, deliveries) == 3
    assert [e.action for e in await audit_entries(desk)] == ["push", "push.duplicate"]


async def test_a_rejected_story_is_explained_and_the_editor_can_send_it_again(
    desk: Newsroom, editor_chat: EditorChat, desk_clock: ManualClock
) -> None:
    await editor_chat.send("/push")
    (refusal,) = await editor_chat.send("---\nurl: ftp://files.example/story\n---\nKim Jong-un said something.")
    assert refusal.startswith("Not sent: story url 'ftp://files.example/story' is not an absolute http(s) URL")
    desk_clock.advance(seconds=30)  # the editor reads the refusal and fixes the story: not the rest of a paste
    preview, _ = await editor_chat.send(SAMPLE)
    assert "BREAKING" in preview


async def test_a_link_on_the_first_line_becomes_the_story_link(desk: Newsroom, editor_chat: EditorChat) -> None:
    link = "https://fairview-gazette.example/north-korea"
    await editor_chat.send(f"/story {link}\n{SAMPLE}")
    preview = editor_chat.message(EDITOR, editor_chat.panel()["message_id"] - 1)
    read_more = preview["reply_markup"]["inline_keyboard"][0][0]
    assert read_more == {"text": "Read more", "url": link}  # the link is the Read more button, as readers get it
    (refusal,) = await editor_chat.send(f"/story {link}")
    assert "send the story's text along with the link" in refusal


async def test_non_editors_get_editors_only_and_nothing_happens(
    desk: Newsroom, editor_chat: EditorChat, bot_api: FakeBotAPI
) -> None:
    for command in ("/push", "/story " + SAMPLE, "/stats", "/push " + SAMPLE):
        assert await editor_chat.send(command, user_id=READER) == ["editors only"]
    replies = await editor_chat.send(SAMPLE, user_id=READER)
    assert not any("Send to" in reply for reply in replies)

    await editor_chat.send("/push " + SAMPLE)  # an editor's draft; a reader forges a tap on its Send button
    send = next(data for text, data in buttons(editor_chat.panel()) if text.startswith("Send to"))
    forged = await editor_chat.tap_data({"chat": {"id": READER}, "message_id": 1}, send, user_id=READER)
    assert forged["text"] == "editors only" and forged["show_alert"] is True
    assert await count(desk, stories) == 0 and await count(desk, audit_log) == 0


async def test_editor_commands_are_refused_in_groups(desk: Newsroom, editor_chat: EditorChat) -> None:
    replies = await editor_chat.send("/push " + SAMPLE, chat_id=-500)
    assert replies == ["Editor commands work in a private chat with the bot, not in groups."]
    assert await count(desk, stories) == 0


@pytest.mark.usefixtures("readers")
async def test_stats_shows_the_queue_and_the_last_stories_with_counts_by_status_and_reason(
    desk: Newsroom, desk_settings: Settings, editor_chat: EditorChat, bot_api: FakeBotAPI
) -> None:
    await editor_chat.send("/push " + SAMPLE)
    await editor_chat.tap(editor_chat.panel(), "Send to")
    bot_api.block(102)
    channels = paced_channels(desk_settings)
    try:
        await DeliveryWorker(desk, channels).drain()
    finally:
        for channel in channels.values():
            await channel.aclose()

    (stats,) = await editor_chat.send("/stats", user_id=OTHER_EDITOR)

    lines = stats.splitlines()
    assert lines[:3] == [
        "<b>Queue</b>",
        "deliveries: 0 pending (0 due now), 0 sending, 2 sent, 1 failed",
        "social posts: 2 pending, 0 sent, 0 failed",
    ]
    assert lines[5].startswith("🔴 <b>President Donald Trump") and lines[5].endswith("(telegram)")
    assert lines[6:] == [
        "  telegram: 1 failed, 1 sent; email: 1 sent",
        "  failed (1): telegram 403: Forbidden: bot was blocked by the user",
    ]


async def test_a_refusal_naming_a_huge_value_fits_one_message(desk: Newsroom, editor_chat: EditorChat) -> None:
    topic = "imaginary " * 600
    (refusal,) = await editor_chat.send(f"/push ---\ntopics: [{topic}]\n---\n{SAMPLE}")
    assert refusal.startswith("Not sent: unknown topic 'imaginary") and len(refusal) <= MAX_MESSAGE_LENGTH


async def test_stats_with_many_failure_reasons_shows_the_first_and_how_many_more(
    desk: Newsroom, desk_settings: Settings, editor_chat: EditorChat, bot_api: FakeBotAPI
) -> None:
    for n in range(40):
        await add_reader(desk, "north-korea", telegram_chat=str(2000 + n))
    await editor_chat.send("/push " + SAMPLE)
    for n in range(40):  # each reader's send is refused with a reason of its own
        bot_api.fail_next("sendMessage", 400, description=f"Bad Request: refused for reason {n:02} " + "x" * 100)
    await editor_chat.tap(editor_chat.panel(), "Send to")
    channels = paced_channels(desk_settings)
    try:
        await DeliveryWorker(desk, channels).drain()
    finally:
        for channel in channels.values():
            await channel.aclose()

    (stats,) = await editor_chat.send("/stats")
    assert len(stats) <= MAX_MESSAGE_LENGTH
    assert "telegram: 40 failed" in stats
    assert stats.count("  failed (1): telegram 400") == 3 and stats.endswith("… and 37 more failure reasons")


# --- CLI -----------------------------------------------------------------------------------------------


def cli(settings: Settings, *args: str, input: str | None = None) -> Result:
    env = {
        "NEWSBOT_DATA_DIR": str(settings.data_dir),
        "NEWSBOT_DATABASE_URL": settings.database_url,
        "NEWSBOT_SECRET_KEY": "test-secret-of-at-least-32-characters",
        "NEWSBOT_DISTRIBUTION_FILE": str(settings.distribution_file or ""),
    }
    return CliRunner().invoke(cli_app, list(args), env=env, input=input)


@pytest.mark.usefixtures("readers")
async def test_cli_push_shows_the_message_and_counts_and_asks_first(desk: Newsroom, desk_settings: Settings) -> None:
    declined = await asyncio.to_thread(cli, desk_settings, "push", str(SAMPLE_STORY), input="n\n")
    assert declined.exit_code != 0
    # The lead sentence is the headline; the summary goes on from the next one (nothing is said twice).
    assert "BREAKING" in declined.stdout and "The president also let slip" in declined.stdout
    assert "readers now: telegram 2, email 1 (total 3)" in declined.stdout
    assert f"social:  Telegram {OUTLET_CHANNEL}" in declined.stdout
    assert "Send this breaking story to 3 readers now?" in declined.stdout
    assert declined.stdout.rstrip().endswith("Nothing was sent.")
    assert await count(desk, stories) == 0 and await count(desk, audit_log) == 0

    accepted = await asyncio.to_thread(cli, desk_settings, "push", str(SAMPLE_STORY), "--topic", "world", input="y\n")
    assert accepted.exit_code == 0, accepted.stderr
    assert "queued for telegram 2, email 1; 2 social posts" in accepted.stdout
    assert await count(desk, deliveries) == 3 and await count(desk, social_posts) == 2

    again = await asyncio.to_thread(cli, desk_settings, "push", str(SAMPLE_STORY), "--yes")
    assert again.exit_code == 0 and "Already published earlier" in again.stdout
    assert await count(desk, deliveries) == 3


@pytest.mark.usefixtures("readers")
async def test_newsbot_audit_lists_who_did_what_when_and_to_how_many(
    desk: Newsroom, desk_settings: Settings, editor_chat: EditorChat
) -> None:
    await editor_chat.send("/push " + SAMPLE)
    await editor_chat.tap(editor_chat.panel(), "Send to")
    table = await asyncio.to_thread(cli, desk_settings, "audit")
    assert table.exit_code == 0, table.stderr
    assert f"telegram:{EDITOR}" in table.stdout and "push" in table.stdout and "3" in table.stdout

    listing = await asyncio.to_thread(cli, desk_settings, "audit", "--json")
    (entry,) = json.loads(listing.stdout)
    assert entry["actor"] == f"telegram:{EDITOR}" and entry["action"] == "push" and entry["recipients"] == 3
    assert entry["details"]["topics"] == ["north-korea", "us-politics", "russia"] and entry["at"]


# --- the whole way -------------------------------------------------------------------------------------


@pytest.mark.usefixtures("readers")
async def test_the_sample_story_pushed_from_telegram_cli_and_api_reaches_readers_once_and_social_once(
    desk: Newsroom,
    desk_settings: Settings,
    editor_chat: EditorChat,
    bot_api: FakeBotAPI,
    webhook: Webhook,
    smtp_sink: SmtpSink,
) -> None:
    await editor_chat.send("/push " + SAMPLE)
    await editor_chat.tap(editor_chat.panel(), "Send to")
    from_cli = await asyncio.to_thread(cli, desk_settings, "push", str(SAMPLE_STORY), "--yes")
    transport = httpx.ASGITransport(app=create_app(desk))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        from_api = await client.post(
            "/api/stories",
            json={"body": SAMPLE, "breaking": True},
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        )
    assert "Already published" in from_cli.stdout and from_api.status_code == 200

    channels = paced_channels(desk_settings.model_copy(update={"smtp_url": smtp_sink.url}))
    try:
        report = await DeliveryWorker(desk, channels).drain()
        posted = await SocialPoster(desk, channels["telegram"]).drain()
        assert await DeliveryWorker(desk, channels).drain() == type(report)()
        assert (await SocialPoster(desk, channels["telegram"]).drain()).sent == 0
    finally:
        for channel in channels.values():
            await channel.aclose()

    message = desk.renderer.telegram_message(sample_story(desk, breaking=True))
    assert report.sent == {"telegram": 2, "email": 1} and posted.sent == 2
    assert bot_api.sent_to(101) == [message] and bot_api.sent_to(102) == [message] and bot_api.sent_to(103) == []
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["nk@example.org"]]
    assert bot_api.sent_to(OUTLET_CHANNEL) == [message]
    (post,) = webhook.posts
    assert post["title"].startswith(sample_story(desk).title[:30])
    # the CLI stopped at its preview ("already published"); the API's duplicate is on record
    assert [(e.actor, e.action) for e in await audit_entries(desk)] == [
        (f"telegram:{EDITOR}", "push"),
        ("api", "push.duplicate"),
    ]


def test_editor_ids_are_a_comma_separated_list_of_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_EDITOR_IDS", "4242, 4343")
    assert load_settings().editor_ids == (4242, 4343)
    monkeypatch.setenv("NEWSBOT_EDITOR_IDS", "4242,@someone")
    with pytest.raises(ConfigurationError, match="NEWSBOT_EDITOR_IDS: must be Telegram user ids"):
        load_settings()
