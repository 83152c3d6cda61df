"""Groups and channels follow topics too; only their admins change them; blocked, removed and migrated chats."""

from __future__ import annotations

import time

from tests.telegram_session import (
    ChatSession,
    chat,
    eventually,
    eventually_async,
    ingest_sample,
    labels,
    my_chat_member,
)

__all__ = ["chat"]  # the fixture, imported for this module's tests

GROUP = -4242
ADMIN, MEMBER = 42, 43
READER = 5001


def group_chat(chat_id: int = GROUP) -> dict:
    return {"id": chat_id, "type": "group", "title": "Fairview Neighbours"}


def admins_and_members(chat: ChatSession, chat_id: int = GROUP) -> None:
    chat.api.set_member_status(chat_id, ADMIN, "administrator")
    chat.api.set_member_status(chat_id, MEMBER, "member")


async def test_a_group_admin_changes_topics_and_a_member_is_told_politely(chat: ChatSession) -> None:
    admins_and_members(chat)
    reply = await chat.say(GROUP, "/follow@newsbot_test_bot north-korea", user_id=ADMIN)
    assert "now follows North Korea" in reply["text"]
    assert {"chat_id": GROUP, "user_id": ADMIN} in [
        {k: call[k] for k in ("chat_id", "user_id")} for call in chat.api.calls_to("getChatMember")
    ]

    reply = await chat.say(GROUP, "/follow local", user_id=MEMBER)
    assert reply["text"] == "Only this chat's admins can change what it follows."
    reply = await chat.say(GROUP, "/unfollow all", user_id=MEMBER)
    assert "Only this chat's admins" in reply["text"]
    reader = await chat.reader(GROUP)
    assert reader.topics == ["north-korea"] and reader.chat_type == "group"

    chat.api.set_member_status(GROUP, MEMBER, "creator")
    reply = await chat.say(GROUP, "/follow local", user_id=MEMBER)
    assert "now follows Local" in reply["text"]


async def test_a_member_sees_what_the_group_follows_but_gets_no_picker_to_press(chat: ChatSession) -> None:
    admins_and_members(chat)
    looked = await chat.say(GROUP, "/topics", user_id=MEMBER)
    assert "reply_markup" not in looked
    assert looked["text"] == "This chat follows no topic yet. Only this chat's admins can change what it follows."

    picker = await chat.say(GROUP, "/topics", user_id=ADMIN)
    answer = await chat.press(GROUP, picker["message_id"], "tp:0:north-korea", user_id=MEMBER)
    assert answer["show_alert"] is True and "admins" in answer["text"]
    assert await chat.reader(GROUP) is None

    await chat.press(GROUP, picker["message_id"], "tp:0:north-korea", user_id=ADMIN)
    assert "✅ North Korea" in labels(chat.api.messages[(GROUP, picker["message_id"])])
    assert (await chat.reader(GROUP)).topics == ["north-korea"]

    members_list = await chat.say(GROUP, "/mytopics", user_id=MEMBER)
    assert "• North Korea" in members_list["text"]
    looked = await chat.say(GROUP, "/topics", user_id=MEMBER)
    assert "This chat follows North Korea." in looked["text"] and "reply_markup" not in looked
    settings = await chat.say(GROUP, "/settings", user_id=MEMBER)
    assert "reply_markup" not in settings and "Only this chat's admins" in settings["text"]
    assert "reply_markup" in await chat.say(GROUP, "/settings", user_id=ADMIN)


async def test_a_demoted_admin_loses_the_right_at_once(chat: ChatSession) -> None:
    admins_and_members(chat)
    await chat.say(GROUP, "/follow north-korea", user_id=ADMIN)
    chat.api.set_member_status(GROUP, ADMIN, "member")
    reply = await chat.say(GROUP, "/stop", user_id=ADMIN)
    assert "Only this chat's admins" in reply["text"]
    assert (await chat.reader(GROUP)).topics == ["north-korea"]


async def test_an_anonymous_admin_posting_as_the_group_may_change_topics(chat: ChatSession) -> None:
    chat.api.push_update(
        {
            "message": {
                "message_id": 77,
                "from": {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"},
                "sender_chat": group_chat(),
                "chat": group_chat(),
                "date": int(time.time()),
                "text": "/follow sports",
                "entities": [{"type": "bot_command", "offset": 0, "length": 7}],
            }
        }
    )
    await eventually(lambda: chat.api.sent_to(GROUP), what="a reply to the anonymous admin")
    assert "now follows Sports" in chat.latest(GROUP)["text"]
    assert chat.api.calls_to("getChatMember") == []


async def test_a_channel_follows_topics_through_its_posts(chat: ChatSession) -> None:
    channel = {"id": -100777, "type": "channel", "title": "Fairview Gazette Alerts"}
    chat.api.add_chat(-100777, **channel)
    chat.api.push_update(
        {
            "channel_post": {
                "message_id": 5,
                "sender_chat": channel,
                "chat": channel,
                "date": int(time.time()),
                "text": "/follow local",
                "entities": [{"type": "bot_command", "offset": 0, "length": 7}],
            }
        }
    )
    await eventually(lambda: chat.api.sent_to(-100777), what="a reply in the channel")
    reader = await chat.reader(-100777)
    assert reader.topics == ["local"] and reader.chat_type == "channel"
    result = await ingest_sample(chat, "---\ntopics: [local]\n---\nThe library reopens on Monday.\n")
    assert result.recipients["telegram"] == 1
    await eventually(lambda: len(chat.api.sent_to(-100777)) == 2, what="the story in the channel")


async def test_email_is_for_private_chats(chat: ChatSession) -> None:
    admins_and_members(chat)
    reply = await chat.say(GROUP, "/email desk@example.org", user_id=ADMIN)
    assert "private chat" in reply["text"] and "@newsbot_test_bot" in reply["text"]
    assert await chat.reader(GROUP) is None


async def test_commands_for_other_bots_are_left_alone_in_groups(chat: ChatSession) -> None:
    admins_and_members(chat)
    chat.api.push_message(GROUP, "/weather@some_other_bot", user_id=MEMBER)
    chat.api.push_message(GROUP, "good morning everyone", user_id=MEMBER)
    await chat.say(GROUP, "/help", user_id=MEMBER)  # a chat's updates are handled in order
    assert len(chat.api.sent_to(GROUP)) == 1
    reply = await chat.say(GROUP, "/weather@newsbot_test_bot", user_id=MEMBER)
    assert "I don't know /weather@newsbot_test_bot" in reply["text"]


async def test_the_bot_added_to_a_group_says_hello_and_the_group_can_follow(chat: ChatSession) -> None:
    chat.api.push_update(my_chat_member(group_chat(), "left", "member"))
    await eventually(lambda: chat.api.sent_to(GROUP), what="a hello in the group")
    hello = chat.latest(GROUP)["text"]
    assert "Fairview Neighbours" in hello and "/topics" in hello
    reader = await chat.reader(GROUP)
    assert reader.status == "active" and reader.chat_type == "group" and reader.topics == []


async def test_a_kicked_group_gets_nothing_and_comes_back_with_its_topics(chat: ChatSession) -> None:
    admins_and_members(chat)
    await chat.say(GROUP, "/follow north-korea", user_id=ADMIN)

    chat.api.push_update(my_chat_member(group_chat(), "member", "kicked"))
    await chat.wait_for_status(GROUP, "inactive")
    assert (await ingest_sample(chat)).recipients["telegram"] == 0

    chat.api.push_update(my_chat_member(group_chat(), "left", "member"))
    await chat.wait_for_status(GROUP, "active")
    assert (await chat.reader(GROUP)).topics == ["north-korea"]
    later = await ingest_sample(chat, "---\ntopics: [north-korea]\n---\nPyongyang announced new talks.\n")
    assert later.recipients["telegram"] == 1
    await eventually(lambda: any("Pyongyang" in text for text in chat.api.sent_to(GROUP)), what="the later story")


async def test_a_reader_who_blocks_the_bot_gets_nothing_and_start_brings_everything_back(chat: ChatSession) -> None:
    await chat.say(READER, "/follow north-korea, local")
    private = {"id": READER, "type": "private", "first_name": "Reader"}
    chat.api.push_update(my_chat_member(private, "member", "kicked", by=READER))
    await chat.wait_for_status(READER, "inactive")
    assert (await ingest_sample(chat)).recipients["telegram"] == 0

    reply = await chat.say(READER, "/start")
    assert "Welcome back: you follow 2 topics" in reply["text"]
    reader = await chat.reader(READER)
    assert reader.status == "active" and reader.topics == ["local", "north-korea"]


async def test_unblocking_alone_makes_a_known_chat_active_again(chat: ChatSession) -> None:
    await chat.say(READER, "/follow local")
    private = {"id": READER, "type": "private", "first_name": "Reader"}
    chat.api.push_update(my_chat_member(private, "member", "kicked", by=READER))
    await chat.wait_for_status(READER, "inactive")
    chat.api.push_update(my_chat_member(private, "kicked", "member", by=READER))
    await chat.wait_for_status(READER, "active")

    stranger = {"id": READER + 1, "type": "private", "first_name": "Stranger"}
    chat.api.push_update(my_chat_member(stranger, "kicked", "member", by=READER + 1))
    await chat.say(READER + 1, "/help")  # handled after the unblock: a stranger is not signed up by unblocking
    assert (await chat.reader(READER + 1)) is None


async def test_a_group_that_became_a_supergroup_keeps_its_topics(chat: ChatSession) -> None:
    admins_and_members(chat)
    await chat.say(GROUP, "/follow north-korea", user_id=ADMIN)
    new_id = chat.api.migrate(GROUP)

    await ingest_sample(chat)
    await eventually(lambda: chat.api.sent_to(new_id), what="the story in the supergroup")
    assert "North Korea" in chat.api.sent_to(new_id)[0]
    assert await chat.reader(GROUP) is None
    reader = await chat.reader(new_id)
    assert reader.status == "active" and reader.topics == ["north-korea"]

    chat.api.set_member_status(new_id, ADMIN, "administrator")
    reply = await chat.say(new_id, "/mytopics", user_id=ADMIN)
    assert "• North Korea" in reply["text"]


async def test_the_migration_notice_moves_the_topics_before_the_next_story(chat: ChatSession) -> None:
    admins_and_members(chat)
    await chat.say(GROUP, "/follow local", user_id=ADMIN)
    new_id = -1004242
    chat.api.push_update(
        {
            "message": {
                "message_id": 90,
                "from": {"id": ADMIN, "is_bot": False, "first_name": "Admin"},
                "chat": group_chat(),
                "date": int(time.time()),
                "migrate_to_chat_id": new_id,
            }
        }
    )
    moved = await eventually_async(lambda: chat.reader(new_id), what="the topics to move")
    assert moved.topics == ["local"] and await chat.reader(GROUP) is None


async def test_a_chat_found_blocked_on_a_send_is_deactivated_and_start_brings_it_back(chat: ChatSession) -> None:
    await chat.say(READER, "/follow north-korea")
    chat.api.block(READER)
    await ingest_sample(chat)
    await chat.wait_for_status(READER, "inactive")

    chat.api.blocked.discard(READER)
    reply = await chat.say(READER, "/start")
    assert "Welcome back: you follow 1 topic" in reply["text"]
    assert (await chat.reader(READER)).status == "active"
    later = await ingest_sample(chat, "---\ntopics: [north-korea]\n---\nPyongyang announced new talks.\n")
    assert later.recipients["telegram"] == 1
