"""Correcting, following up and retracting a story that went out, end to end: the real worker sends the edits,
notices, replies and deletions to the fake Bot API and the SMTP sink, on the exact message ids the sends returned."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes
from email.policy import default as email_policy

import pytest
from sqlalchemy import select

from bot.app.errors import StoryNotFound
from bot.app.newsroom import Newsroom
from bot.outbox.worker import DeliveryWorker
from bot.stories.corrections import correct_story
from bot.stories.intake import prepare_for, publish_story
from bot.stories.parsing import parse_story
from bot.stories.retraction import StoryRetracted, retract_story
from bot.stories.story import Story
from subscribers import audit as audit_store
from subscribers import story_changes, story_lists
from subscribers.schema import Cadence, ChannelName, deliveries, story_versions
from tests.fakes import FakeBotAPI, SmtpSink
from tests.fakes.clock import ManualClock
from tests.newsroom_fixtures import add_reader

ORIGINAL = """---
title: Council passes the 2027 budget
url: https://fairview-gazette.example/council-budget
topics: [local]
id: council-budget-2027
---
The city council on Friday approved a budget of 12 million dollars for 2027, after a long debate.
"""
FIXED = ORIGINAL.replace("12 million", "21 million")


def draft(text: str):  # type: ignore[no-untyped-def]
    return parse_story(text, max_bytes=1_000_000)


async def publish(newsroom: Newsroom, text: str = ORIGINAL) -> Story:
    story = prepare_for(newsroom, draft(text), source="cli")
    return (await publish_story(newsroom, story, actor="cli")).story


async def sent_ids(newsroom: Newsroom, item_key: str) -> dict[int, str]:
    async with newsroom.engine.connect() as conn:
        rows = await conn.execute(
            select(deliveries.c.subscriber_id, deliveries.c.provider_id).where(
                deliveries.c.item_key == item_key, deliveries.c.channel == "telegram"
            )
        )
        return dict(rows.all())


@pytest.fixture
async def readers(live: tuple[Newsroom, DeliveryWorker]) -> dict[str, int]:
    newsroom, _ = live
    instant = {ChannelName.EMAIL: Cadence.INSTANT}
    return {
        "chat": await add_reader(newsroom, "local", telegram_chat="501"),
        "other_chat": await add_reader(newsroom, "local", telegram_chat="502"),
        "mail": await add_reader(newsroom, "local", email="reader@example.org", cadences=instant),
        "late": await add_reader(newsroom, "sports", telegram_chat="503"),
    }


async def test_a_correction_edits_every_telegram_copy_in_place_and_mails_nobody(
    live: tuple[Newsroom, DeliveryWorker], readers: dict[str, int], bot_api: FakeBotAPI, smtp_sink: SmtpSink
) -> None:
    newsroom, worker = live
    story = await publish(newsroom)
    await worker.drain()
    first_ids = await sent_ids(newsroom, "story:council-budget-2027")
    # Another story in the same chats afterwards: the edit must hit the story's own message, not the newest.
    await publish(newsroom, ORIGINAL.replace("council-budget-2027", "council-other").replace("approved", "debated"))
    await worker.drain()
    mails_before = len(smtp_sink.messages)

    report = await correct_story(newsroom, story.id, draft(FIXED), note="The budget is 21 million.", actor="cli")
    assert report.changed and report.story.version == 2 and report.edits == 2
    await worker.drain()

    edits = bot_api.calls_to("editMessageText")
    assert sorted((call["chat_id"], str(call["message_id"])) for call in edits) == sorted(
        (int(chat), first_ids[readers[name]]) for name, chat in (("chat", "501"), ("other_chat", "502"))
    )
    for chat in (501, 502):
        text = bot_api.text_of(chat, int(first_ids[readers["chat" if chat == 501 else "other_chat"]])) or ""
        assert "21 million" in text and "Corrected: The budget is 21 million." in text
    assert len(smtp_sink.messages) == mails_before  # emails cannot change; nothing is mailed without --notify
    async with newsroom.engine.connect() as conn:
        kept = (await conn.execute(select(story_versions.c.version, story_versions.c.summary))).all()
        counts = await story_changes.change_status_counts(conn, story.id)
        entries = await audit_store.list_audit_entries(conn, 5)
        versions = await story_lists.list_story_versions(conn, story.id)
    assert kept[0].version == 1 and "12 million" in kept[0].summary
    assert [(v.version, v.title, v.correction_note, v.replaced_by) for v in versions] == [
        (1, "Council passes the 2027 budget", None, "cli")
    ]
    assert "12 million" in versions[0].summary and versions[0].replaced_at.tzinfo is not None
    assert counts["edit"] == {"sent": 2}
    assert entries[0].action == "correct" and entries[0].recipients == 2


async def test_correcting_with_the_same_text_changes_nothing_and_says_so(
    live: tuple[Newsroom, DeliveryWorker], readers: dict[str, int], bot_api: FakeBotAPI
) -> None:
    newsroom, worker = live
    story = await publish(newsroom)
    await worker.drain()
    report = await correct_story(newsroom, story.id, draft(ORIGINAL), actor="cli")
    assert not report.changed and report.story.version == 1
    await worker.drain()
    assert bot_api.calls_to("editMessageText") == []


async def test_a_reader_not_reached_yet_gets_the_corrected_version_and_no_edit(
    live: tuple[Newsroom, DeliveryWorker], readers: dict[str, int], bot_api: FakeBotAPI
) -> None:
    newsroom, worker = live
    story = await publish(newsroom)
    # Render the first version into the worker's cache, as a running worker would have.
    await worker.sources["story"].prepare([])
    await correct_story(newsroom, story.id, draft(FIXED), actor="cli")
    await worker.drain()
    assert all("21 million" in text for text in bot_api.sent_to(501) + bot_api.sent_to(502))
    assert bot_api.calls_to("editMessageText") == []


async def test_notify_sends_a_short_correction_only_to_those_who_got_it_on_their_channel(
    live: tuple[Newsroom, DeliveryWorker], readers: dict[str, int], bot_api: FakeBotAPI, smtp_sink: SmtpSink
) -> None:
    newsroom, worker = live
    story = await publish(newsroom)
    await worker.drain()
    first_ids = await sent_ids(newsroom, f"story:{story.id}")
    await add_reader(newsroom, "local", email="newcomer@example.org", cadences={ChannelName.EMAIL: Cadence.INSTANT})
    mails_before = len(smtp_sink.messages)

    report = await correct_story(newsroom, story.id, draft(FIXED), note="Figure fixed.", notify=True, actor="cli")
    assert report.notices == {"telegram": 2, "email": 1}
    await worker.drain()

    mails = smtp_sink.messages[mails_before:]
    assert [mail.rcpt_tos for mail in mails] == [["reader@example.org"]]
    parsed = message_from_bytes(mails[0].data, policy=email_policy)
    assert parsed["Subject"].startswith("Correction: Council passes")
    assert "Figure fixed." in parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    for chat, name in ((501, "chat"), (502, "other_chat")):
        notice = max(message_id for chat_id, message_id in bot_api.messages if chat_id == chat)
        assert bot_api.replies[(chat, notice)] == int(first_ids[readers[name]])
    assert bot_api.sent_to(503) == []


async def test_a_follow_up_reaches_the_originals_readers_as_a_reply_to_their_own_copy(
    live: tuple[Newsroom, DeliveryWorker], readers: dict[str, int], bot_api: FakeBotAPI, smtp_sink: SmtpSink
) -> None:
    newsroom, worker = live
    story = await publish(newsroom)
    await worker.drain()
    first_ids = await sent_ids(newsroom, f"story:{story.id}")
    follow_up = f"""---
title: Council budget - mayor signs it
topics: [sports]
updates: {story.id}
id: council-budget-signed
---
The mayor signed the 2027 budget on Saturday.
"""
    mails_before = len(smtp_sink.messages)
    published = await publish(newsroom, follow_up)
    assert published.updates == story.id
    await worker.drain()

    for chat, name in ((501, "chat"), (502, "other_chat")):
        update_id = max(message_id for chat_id, message_id in bot_api.messages if chat_id == chat)
        assert bot_api.replies[(chat, update_id)] == int(first_ids[readers[name]])
        assert "UPDATE" in bot_api.sent_to(chat)[-1]
    assert "UPDATE" in bot_api.sent_to(503)[-1] and (503, 1) not in bot_api.replies  # a follower, no copy to answer
    mails = smtp_sink.messages[mails_before:]
    assert [mail.rcpt_tos for mail in mails] == [["reader@example.org"]]  # got the original, follows no sports
    assert message_from_bytes(mails[0].data, policy=email_policy)["Subject"].startswith("Update: ")


async def test_a_follow_up_of_an_unknown_story_is_refused(live: tuple[Newsroom, DeliveryWorker]) -> None:
    newsroom, _ = live
    with pytest.raises(StoryNotFound, match="no-such-story"):
        await publish(newsroom, ORIGINAL.replace("id: council", "updates: no-such-story\nid: council"))


async def test_retract_deletes_young_copies_and_replaces_old_ones_with_a_notice(
    live: tuple[Newsroom, DeliveryWorker], readers: dict[str, int], bot_api: FakeBotAPI
) -> None:
    newsroom, worker = live
    clock = ManualClock()
    newsroom.clock = clock
    worker.clock = clock
    story = await publish(newsroom)
    await worker.drain()
    first_ids = await sent_ids(newsroom, f"story:{story.id}")
    # The first reader's copy is 49 hours old when the retraction comes, the second's an hour younger.
    old, young = int(first_ids[readers["chat"]]), int(first_ids[readers["other_chat"]])
    async with newsroom.engine.begin() as conn:
        await conn.execute(
            deliveries.update()
            .where(deliveries.c.subscriber_id == readers["chat"])
            .values(sent_at=clock.now() - timedelta(hours=49))
        )
    bot_api.age_message(501, old, hours=49)

    report = await retract_story(newsroom, story.id, note="The vote was postponed.", actor="cli")
    assert (report.deleted, report.withdrawn) == (1, 1)
    again = await retract_story(newsroom, story.id, actor="cli")
    assert not again.retracted
    await worker.drain()

    assert (502, young) in bot_api.deleted
    assert "has withdrawn this story" in (bot_api.text_of(501, old) or "")
    assert "The vote was postponed." in (bot_api.text_of(501, old) or "")
    assert bot_api.calls_to("deleteMessage")[0]["message_id"] == young
    with pytest.raises(StoryRetracted):
        await correct_story(newsroom, story.id, draft(FIXED), actor="cli")
