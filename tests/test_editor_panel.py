"""The editor's panel in Telegram, made safe to use in a hurry: split pastes, files, second thoughts, any topic,
the headline, pushes that reach nobody, progress after Send, and the editors' own command menu.

The bot's Application talks HTTP to the fake Bot API; the desk's clock is one the tests move, and the progress
refresh is the Application's JobQueue job, run by the test instead of waited for.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import func, select
from telegram import BotCommand
from telegram.ext import CommandHandler

from bot.app.newsroom import Newsroom
from bot.app.telegram_bot import register_commands
from bot.editors.command_menu import editor_menu
from bot.editors.progress import PROGRESS_JOB
from bot.outbox.worker import DeliveryWorker
from bot.stories.intake import prepare_for
from bot.stories.parsing import read_story_file
from bot.stories.story import MAX_TITLE_CHARS, Story
from subscribers import stories as stories_store
from subscribers.schema import deliveries, stories
from tests.editor_fixtures import (  # noqa: F401  (the *_fixture names are fixtures used by name)
    EDITOR,
    OTHER_EDITOR,
    EditorChat,
    buttons,
    desk_clock_fixture,
    editor_chat_fixture,
    readers_fixture,
    sample_story,
)
from tests.fakes.bot_api import MAX_MESSAGE_LENGTH
from tests.fakes.clock import ManualClock
from tests.fakes.telegram_html import parse_html
from tests.newsroom_fixtures import SAMPLE_STORY, paced_channels

SAMPLE = SAMPLE_STORY.read_text(encoding="utf-8")
NO_TOPIC_STORY = "Our reporter met an old friend on Monday and they talked for an hour about nothing."


def telegram_split(text: str) -> list[str]:
    """Split *text* as a Telegram client splits a long paste: at the last line break that fits, trimmed."""
    parts = []
    while len(text) > MAX_MESSAGE_LENGTH:
        cut = text.rfind("\n", 0, MAX_MESSAGE_LENGTH)
        parts.append(text[:cut].strip())
        text = text[cut:].strip()
    return [*parts, text.strip()]


async def stored_stories(newsroom: Newsroom) -> list[Story]:
    async with newsroom.engine.connect() as conn:
        ids = list((await conn.execute(select(stories.c.id))).scalars())
        loaded = [await stories_store.load_story(conn, story_id, Story) for story_id in ids]
    return [story for story in loaded if story is not None]


def panels(chat: EditorChat) -> list[dict[str, Any]]:
    """Every message in the editor's chat that has ever been a panel (it names "Readers now")."""
    return [m for (chat_id, _), m in chat.api.messages.items() if chat_id == EDITOR and "Readers now" in m["text"]]


# --- one story, however it arrives ------------------------------------------------------------------------


@pytest.mark.usefixtures("readers")
async def test_a_paste_telegram_split_in_two_is_one_draft_of_the_exact_story(
    desk: Newsroom, editor_chat: EditorChat
) -> None:
    first, second = telegram_split(SAMPLE)
    assert len(SAMPLE) > MAX_MESSAGE_LENGTH and first and second

    await editor_chat.send("/push")
    preview, _ = await editor_chat.send(first)
    assert await editor_chat.send(second) == []  # the same preview and panel are updated, nothing new offered

    assert len(panels(editor_chat)) == 1
    panel = editor_chat.panel()
    expected = sample_story(desk, breaking=True)
    edits = [
        c["text"] for c in editor_chat.api.calls_to("editMessageText") if c["message_id"] == panel["message_id"] - 1
    ]
    assert (edits[-1] if edits else preview) == desk.renderer.telegram_message(expected)
    await editor_chat.tap(panel, "Send to")
    (story,) = await stored_stories(desk)
    assert story.body == expected.body and story.title == expected.title and story.id == expected.id


async def test_text_sent_after_the_paste_window_asks_before_replacing_the_draft(
    desk: Newsroom, editor_chat: EditorChat, desk_clock: ManualClock
) -> None:
    await editor_chat.send("/push " + SAMPLE)
    panel = editor_chat.panel()
    desk_clock.advance(seconds=desk.settings.editor_paste_window + 1)

    (question,) = await editor_chat.send(NO_TOPIC_STORY)
    assert "Replace it with the text you just sent" in question
    asking = editor_chat.api.messages[(EDITOR, max(i for c, i in editor_chat.api.messages if c == EDITOR))]
    assert [label for label, _ in buttons(asking)] == ["Replace the draft", "Keep the draft"]

    assert (await editor_chat.tap(asking, "Keep"))["text"] == "Kept"
    assert editor_chat.message(EDITOR, asking["message_id"])["text"].startswith("Kept the draft above")
    assert editor_chat.panel()["message_id"] == panel["message_id"]  # the draft is still the one open

    desk_clock.advance(seconds=60)
    await editor_chat.send(NO_TOPIC_STORY)
    asking = editor_chat.api.messages[(EDITOR, max(i for c, i in editor_chat.api.messages if c == EDITOR))]
    await editor_chat.tap(asking, "Replace")
    assert editor_chat.message(EDITOR, panel["message_id"])["text"] == "Replaced by a newer draft. Nothing was sent."
    assert (
        "Our reporter met an old friend" in editor_chat.message(EDITOR, editor_chat.panel()["message_id"] - 1)["text"]
    )
    assert await count_stories(desk) == 0


async def test_a_story_file_is_the_story_and_an_oversized_or_foreign_file_is_politely_refused(
    desk: Newsroom, editor_chat: EditorChat, desk_clock: ManualClock
) -> None:
    (preview, _) = await editor_chat.send_file(SAMPLE.encode(), "north-korea.txt", caption="/story")
    assert preview == desk.renderer.telegram_message(sample_story(desk))
    assert editor_chat.api.calls_to("getFile") and any(method == "file" for method, _ in editor_chat.api.calls)

    await editor_chat.send("/push")
    (refusal,) = await editor_chat.send_file(b"%PDF-1.7 ...", "story.pdf")
    assert refusal == "Not sent: this is a .pdf file; send the story as a .txt, .md or .html file, or as text."
    desk.settings = desk.settings.model_copy(update={"max_story_bytes": 1000})
    (refusal,) = await editor_chat.send_file(SAMPLE.encode(), "north-korea.md")
    assert refusal == "Not sent: the file is 5,354 bytes; the limit is 1,000 bytes (NEWSBOT_MAX_STORY_BYTES)."
    downloads = [method for method, _ in editor_chat.api.calls if method == "file"]
    assert len(downloads) == 1  # neither refused file was downloaded


async def test_an_html_file_keeps_its_links(desk: Newsroom, editor_chat: EditorChat) -> None:
    page = (
        "<article><h1>Council passes the 2027 budget</h1><p>The city council on Friday approved the "
        '<a href="https://fairview-gazette.example/budget">budget</a> after a long night.</p></article>'
    )
    preview, _ = await editor_chat.send_file(page.encode(), "budget.html", caption="/story")
    assert "Council passes the 2027 budget" in preview
    assert '<a href="https://fairview-gazette.example/budget">budget</a>' in preview


async def test_a_formatted_message_keeps_its_links_and_bold_as_input(desk: Newsroom, editor_chat: EditorChat) -> None:
    update = editor_chat.api.push_message(EDITOR, "/story Kim met Trump in Hanoi on Monday, officials said.")
    text = update["message"]["text"]
    update["message"]["entities"] += [
        {"type": "bold", "offset": text.index("Kim"), "length": 3},
        {"type": "text_link", "offset": text.index("Hanoi"), "length": 5, "url": "https://example.org/hanoi"},
    ]
    before = len(editor_chat.api.sent_messages)
    await editor_chat.process(update)
    await editor_chat.tap(editor_chat.panel(), "Send to")
    (story,) = await stored_stories(desk)
    assert "**Kim**" in story.body and "[Hanoi](https://example.org/hanoi)" in story.body
    assert len(editor_chat.api.sent_messages) > before


# --- the panel ------------------------------------------------------------------------------------------


async def test_an_old_panel_says_it_is_closed_and_loses_its_buttons(desk: Newsroom, editor_chat: EditorChat) -> None:
    await editor_chat.send("/push " + SAMPLE)
    old = editor_chat.panel()
    await editor_chat.send("/story " + SAMPLE)
    assert editor_chat.message(EDITOR, old["message_id"])["text"].startswith("Closed: a new draft was started")
    assert "reply_markup" not in editor_chat.message(EDITOR, old["message_id"])

    current = editor_chat.panel()
    editor_chat.application.drop_user_data(EDITOR)  # as after a restart: the bot no longer holds the draft
    answer = await editor_chat.tap(current, "Send to")
    assert "This draft is closed" in answer["text"] and answer["show_alert"] is True
    assert "reply_markup" not in editor_chat.message(EDITOR, current["message_id"])
    assert await count_stories(desk) == 0


@pytest.mark.usefixtures("readers")
async def test_any_taxonomy_topic_can_be_added_to_a_story_without_a_detected_one(
    desk: Newsroom, editor_chat: EditorChat
) -> None:
    await editor_chat.send("/story " + NO_TOPIC_STORY)
    await editor_chat.tap(editor_chat.panel(), "More topics")
    page = editor_chat.panel()
    labels = [label for label, _ in buttons(page)]
    assert labels[:8] == ["⬜ " + topic.name for topic in list(desk.taxonomy)[:8]] and "More ›" in labels

    await editor_chat.tap(page, "More ›")
    await editor_chat.tap(editor_chat.panel(), "Sports")
    panel = editor_chat.panel()
    assert "✅ Sports" in [label for label, _ in buttons(panel)]
    assert "Topics: Sports" in panel["text"] and "telegram 1, email 0 (total 1)" in panel["text"]
    await editor_chat.tap(panel, "Done choosing topics")
    assert buttons(editor_chat.panel())[0][0] == "✅ Sports"

    await editor_chat.tap(editor_chat.panel(), "Send to")
    (story,) = await stored_stories(desk)
    assert story.topics == ("sports",)


async def test_the_headline_can_be_changed_before_send(desk: Newsroom, editor_chat: EditorChat) -> None:
    await editor_chat.send("/story " + SAMPLE)
    answer = await editor_chat.tap(editor_chat.panel(), "Headline")
    assert answer["text"] == "Send the new headline as your next message"
    assert "Send the new headline as your next message" in editor_chat.panel()["text"]

    (refusal,) = await editor_chat.send("x" * (MAX_TITLE_CHARS + 1))
    assert (
        refusal
        == f"Not changed: the headline is {MAX_TITLE_CHARS + 1} characters; the limit is 300. Send a new headline."
    )
    assert await editor_chat.send("Trump says he may meet Kim again") == [
        "Headline changed: the preview and the panel above show it."
    ]
    panel = editor_chat.panel()
    assert "Headline: Trump says he may meet Kim again" in panel["text"]
    assert "Trump says he may meet Kim again" in editor_chat.message(EDITOR, panel["message_id"] - 1)["text"]
    await editor_chat.tap(panel, "Send to")
    (story,) = await stored_stories(desk)
    assert story.title == "Trump says he may meet Kim again"


async def test_a_new_headline_for_a_derived_one_brings_the_lead_back_into_the_summary(
    desk: Newsroom, editor_chat: EditorChat
) -> None:
    derived = sample_story(desk)
    assert derived.headline_derived and "In a candid exchange" not in derived.summary  # the lead is the headline
    await editor_chat.send("/story " + SAMPLE)
    await editor_chat.tap(editor_chat.panel(), "Headline")
    headline = "Trump says he may meet Kim again"
    await editor_chat.send(headline)

    draft = dataclasses.replace(read_story_file(SAMPLE_STORY, desk.settings.max_story_bytes), title=headline)
    expected = prepare_for(desk, draft, source="telegram")
    assert expected.summary.startswith("In a candid exchange")  # the lead sentence, once, at the top
    panel = editor_chat.panel()
    preview = editor_chat.message(EDITOR, panel["message_id"] - 1)
    assert "(derived from the lead)" not in panel["text"]
    assert preview["text"] == parse_html(desk.renderer.telegram_message(expected))[0]
    await editor_chat.tap(panel, "Send to")
    (story,) = await stored_stories(desk)
    assert (story.title, story.summary, story.id) == (headline, expected.summary, derived.id)


# --- the preview is the reader's copy, buttons and picture included -----------------------------------------


def url_buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [(button["text"], button["url"]) for row in rows for button in row if "url" in button]


async def test_the_preview_carries_the_readers_buttons_and_only_read_more_acts(
    desk: Newsroom, editor_chat: EditorChat
) -> None:
    link = "https://fairview-gazette.example/north-korea"
    await editor_chat.send(f"/story {link}\n{SAMPLE}")
    panel = editor_chat.panel()
    preview = editor_chat.message(EDITOR, panel["message_id"] - 1)
    assert url_buttons(preview) == [("Read more", link)]
    assert [label for label, _ in buttons(preview)] == ["Read more", "Unfollow North Korea", "Settings"]
    assert preview["link_preview_options"]["url"] == link  # the same preview readers get
    answer = await editor_chat.tap(preview, "Unfollow")
    assert answer["text"].startswith("Preview: for a reader this stops following")
    assert (await editor_chat.tap(preview, "Settings"))["text"].startswith("Preview: for a reader this opens")

    await editor_chat.tap(panel, "North Korea")  # unticked: the preview's Unfollow follows the topics chosen
    preview = editor_chat.message(EDITOR, panel["message_id"] - 1)
    assert [label for label, _ in buttons(preview)][1] == "Unfollow US Politics"


async def test_a_story_with_a_picture_is_previewed_as_the_photo_readers_get(
    desk: Newsroom, editor_chat: EditorChat
) -> None:
    picture = "https://fairview-gazette.example/images/kim.jpg"
    await editor_chat.send(f"/story ---\nimage: {picture}\n---\n{SAMPLE}")
    ((chat_id, photo, caption),) = editor_chat.api.sent_photos
    expected = sample_story(desk)
    assert (chat_id, photo) == (EDITOR, picture)
    assert caption == desk.renderer.telegram_caption(dataclasses.replace(expected, image_url=picture))
    panel = editor_chat.panel()
    preview = editor_chat.message(EDITOR, panel["message_id"] - 1)
    assert preview["photo"] and url_buttons(preview)[0][0] == "Read more"

    await editor_chat.tap(panel, "North Korea")
    (edit,) = editor_chat.api.calls_to("editMessageCaption")  # a photo's caption is edited, never its text
    assert edit["message_id"] == preview["message_id"] and "Unfollow US Politics" in str(edit["reply_markup"])


async def test_a_breaking_push_that_reaches_nobody_warns_before_send(desk: Newsroom, editor_chat: EditorChat) -> None:
    await editor_chat.send("/push " + SAMPLE)
    panel = editor_chat.panel()
    assert "⚠️ This breaking push reaches nobody: no reader follows North Korea, US Politics, Russia." in panel["text"]
    assert [label for label, _ in buttons(panel)][-2] == "Send to 0 readers"


@pytest.mark.usefixtures("readers")
async def test_after_send_the_panel_shows_sent_n_of_m_until_the_story_is_out(
    desk: Newsroom, editor_chat: EditorChat, desk_clock: ManualClock
) -> None:
    await editor_chat.send("/push " + SAMPLE)
    panel = editor_chat.panel()
    await editor_chat.tap(panel, "Send to")
    text = editor_chat.message(EDITOR, panel["message_id"])["text"]
    assert text.splitlines()[-1] == "Progress: sent 0 of 3…"
    job_queue = editor_chat.application.job_queue
    assert job_queue is not None
    (job,) = [job for job in job_queue.jobs() if job.name and job.name.startswith(PROGRESS_JOB)]
    assert job.trigger.interval.total_seconds() == desk.settings.editor_progress_seconds  # type: ignore[attr-defined]

    editor_chat.api.block(102)
    channels = paced_channels(desk.settings)
    try:
        await DeliveryWorker(desk, channels).drain()
    finally:
        for channel in channels.values():
            await channel.aclose()
    await job.run(editor_chat.application)

    text = editor_chat.message(EDITOR, panel["message_id"])["text"]
    assert text.startswith("✅ Sent: queued for telegram 2, email 1 (total 3).")
    assert text.splitlines()[-1] == "Progress: sent 2 of 3, 1 failed (done)."
    assert not [job for job in job_queue.jobs() if job.name and job.name.startswith(PROGRESS_JOB)]


@pytest.mark.usefixtures("readers")
async def test_stop_on_the_panel_holds_back_the_rest_of_the_send(desk: Newsroom, editor_chat: EditorChat) -> None:
    await editor_chat.send("/push " + SAMPLE)
    panel = editor_chat.panel()
    await editor_chat.tap(panel, "Send to")
    sent_panel = editor_chat.message(EDITOR, panel["message_id"])
    assert [label for label, _ in buttons(sent_panel)] == ["⏹ Stop sending"]

    assert (await editor_chat.tap(sent_panel, "Stop sending"))["text"] == "Stopped"

    text = editor_chat.message(EDITOR, panel["message_id"])["text"]
    assert "Progress: sent 0 of 3, 3 stopped (done)." in text and "⏹ Stopped: nothing more goes out." in text
    assert [label for label, _ in buttons(editor_chat.message(EDITOR, panel["message_id"]))] == ["▶️ Resume sending"]
    async with desk.engine.connect() as conn:
        statuses = list((await conn.execute(select(deliveries.c.status))).scalars())
    assert statuses == ["stopped"] * 3
    job_queue = editor_chat.application.job_queue
    assert job_queue is not None
    assert not [job for job in job_queue.jobs() if job.name and job.name.startswith(PROGRESS_JOB)]
    again = await editor_chat.tap(sent_panel, "Stop sending")
    assert again["text"] == "Already stopped"


# --- commands -------------------------------------------------------------------------------------------


async def test_cancel_with_nothing_open_says_there_is_nothing_to_cancel(editor_chat: EditorChat) -> None:
    assert await editor_chat.send("/cancel") == ["Nothing to cancel: no draft is open. /push or /story starts one."]


async def test_editors_get_their_own_command_menu_scoped_to_their_chats(editor_chat: EditorChat) -> None:
    await register_commands(editor_chat.application)

    calls = editor_chat.api.calls_to("setMyCommands")
    assert "scope" not in calls[0]  # the readers' menu, for everyone
    scoped = {call["scope"]["chat_id"]: call for call in calls[1:] if call["scope"]["type"] == "chat"}
    assert set(scoped) == {EDITOR, OTHER_EDITOR}
    assert scoped[EDITOR]["scope"] == {"type": "chat", "chat_id": EDITOR}
    names = [command["command"] for command in scoped[EDITOR]["commands"]]
    readers = [command["command"] for command in calls[0]["commands"]]
    editor_names = names[: len(names) - len(readers)]
    assert {"push", "story", "stats", "cancel"} <= set(editor_names) and names[len(editor_names) :] == readers
    assert all(command["description"] for command in scoped[EDITOR]["commands"])


def test_the_editor_menu_lists_exactly_the_editor_commands_that_have_handlers() -> None:
    async def answer(update: object, context: object) -> None: ...

    readers = [BotCommand("start", "Welcome"), BotCommand("help", "Every command")]
    handled = [CommandHandler(name, answer) for name in ("push", "stats", "correct", "start")]
    menu = editor_menu(handled, readers)
    assert [command.command for command in menu] == ["push", "correct", "stats", "start", "help"]


async def count_stories(newsroom: Newsroom) -> int:
    async with newsroom.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(stories))).scalar_one()
