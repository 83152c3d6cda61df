"""The desk's Topics and Social pages over HTTP, for admins: add, change, retire (asked first, naming its
followers, who keep their follows) and restore a topic; add, disable, enable and remove a social destination whose
URL is never shown. Every change is audited as the admin and reaches the tagger, the compose page, the intake and
other processes sharing the store without a restart; a bad field is a 422 naming it; an editor gets a 403; a form
without the session's CSRF token changes nothing; until the first change the files are what counts."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from bot.app.config import Settings
from bot.app.newsroom import Newsroom
from bot.channels.telegram import TelegramChannel
from bot.outbox.social import SocialPoster
from bot.stories.intake import prepare_story, publish_story
from bot.stories.parsing import read_story_file
from bot.topics.topic_settings import add_topic, refresh_topic_settings, retire_topic, set_destination_enabled
from subscribers.audit import list_audit_entries
from subscribers.schema import follows, social_posts
from subscribers.topic_settings import TopicRow
from tests.desk_sessions import ADMIN_EMAIL, csrf_of, desk_client
from tests.editor_fixtures import (  # noqa: F401  (the *_fixture names are fixtures used by name)
    OUTLET_CHANNEL,
    READER,
    EditorChat,
    desk_clock_fixture,
    editor_chat_fixture,
    sample_story,
)
from tests.fakes.http_endpoints import Webhook
from tests.newsroom_fixtures import add_reader
from tests.test_social import telegram as telegram  # the fixture: the outlet's channel on the fake Bot API

ACTOR = f"desk:{ADMIN_EMAIL}"
CITY_HALL = {
    "slug": "city-hall",
    "name": "City Hall",
    "description": "The council, the mayor and the budget",
    "keywords": "city council, mayor",
    "aliases": "council",
}


async def _post(client: httpx.AsyncClient, path: str, data: dict[str, object], page: str) -> httpx.Response:
    token = csrf_of((await client.get(page)).text)
    return await client.post(path, data={"csrf_token": token, **data})


async def _actions(newsroom: Newsroom) -> list[tuple[str, str, str | None]]:
    async with newsroom.reader.connect() as conn:
        return [(e.actor, e.action, e.subject) for e in reversed(await list_audit_entries(conn))]


async def _story_on(newsroom: Newsroom, tmp_path, topic: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "story.md"
    path.write_text(
        f"---\ntitle: Budget vote tonight\ntopics: [{topic}]\n---\nThe council votes on the budget tonight.\n",
        encoding="utf-8",
    )
    draft = read_story_file(path, newsroom.settings.max_story_bytes)
    return prepare_story(draft, settings=newsroom.settings, taxonomy=newsroom.taxonomy, tagger=newsroom.tagger)


async def test_an_admin_adds_a_topic_that_compose_and_the_tagger_use_at_once(newsroom: Newsroom) -> None:
    async with desk_client(newsroom, role="admin") as client:
        listed = await client.get("/desk/topics")
        assert listed.status_code == 200 and "21 topics readers can follow" in listed.text
        assert '<a href="/desk/topics" aria-current="page">Topics</a>' in listed.text
        added = await _post(client, "/desk/topics", CITY_HALL, "/desk/topics")
        assert added.status_code == 303 and added.headers["location"] == "/desk/topics/city-hall?done=added"
        token = csrf_of((await client.get("/desk")).text)
        body = "Mayor resigns\n\nThe mayor told the city council on Monday that she resigns."
        preview = await client.post("/desk/preview", data={"csrf_token": token, "body": body})
        page = await client.get("/desk/topics/city-hall")
    assert 'value="city-hall" checked> City Hall</label>' in preview.text  # choosable, and the tagger ticked it
    assert "0 readers follow city-hall" in page.text and 'value="city council, mayor"' not in page.text
    assert ">city council, mayor</textarea>" in page.text
    topic = newsroom.taxonomy["city-hall"]
    assert (topic.name, topic.keywords, topic.aliases) == ("City Hall", ("city council", "mayor"), ("council",))
    assert newsroom.taxonomy.resolve("Council").slug == "city-hall"
    assert (ACTOR, "topic added", "city-hall") in await _actions(newsroom)


async def test_bad_topic_fields_are_named_and_nothing_is_stored(newsroom: Newsroom) -> None:
    async with desk_client(newsroom, role="admin") as client:
        answers = {
            field: await _post(client, "/desk/topics", CITY_HALL | {field: value}, "/desk/topics")
            for field, value in (("slug", "City Hall!"), ("name", ""), ("keywords", " , "), ("aliases", "Sports"))
        }
        taken = await _post(client, "/desk/topics", CITY_HALL | {"slug": "sports"}, "/desk/topics")
    for field, answer in answers.items():
        assert answer.status_code == 422, field
        assert f"<strong>{field.capitalize()}:</strong>" in answer.text
        assert f'id="{field}" name="{field}"' in answer.text and 'aria-invalid="true"' in answer.text
    assert "already names the topic &#39;sports&#39;" in answers["aliases"].text
    assert taken.status_code == 422 and "already a topic" in taken.text
    assert 'value="City Hall"' in answers["slug"].text  # what was typed is kept
    assert "city-hall" not in newsroom.taxonomy and newsroom.topic_settings_version is None


async def test_changing_a_topic_keeps_its_slug_and_reaches_another_process(
    newsroom: Newsroom, settings: Settings
) -> None:
    other = await Newsroom.open(settings)  # another process on the same store, loaded before the change
    try:
        async with desk_client(newsroom, role="admin") as client:
            changed = await _post(
                client,
                "/desk/topics/sports",
                {"name": "Sport", "description": "Every match", "keywords": "match, derby", "aliases": ""},
                "/desk/topics/sports",
            )
        assert changed.status_code == 303
        assert newsroom.taxonomy["sports"].name == "Sport"
        assert other.taxonomy["sports"].name == "Sports"
        assert await refresh_topic_settings(other) is True  # what its refresh loop does every few seconds
        assert other.taxonomy["sports"].name == "Sport" and other.taxonomy["sports"].keywords == ("match", "derby")
        assert await refresh_topic_settings(other) is False  # nothing new: nothing read again
        assert len(other.taxonomy) == 21
    finally:
        await other.close()
    async with await Newsroom.open(settings) as restarted:
        assert restarted.taxonomy["sports"].name == "Sport"
    assert (ACTOR, "topic changed", "sports") in await _actions(newsroom)


async def test_retiring_a_topic_asks_naming_its_followers_and_keeps_their_follows(newsroom: Newsroom) -> None:
    await add_reader(newsroom, "sports", telegram_chat="101")
    await add_reader(newsroom, "sports", "local", email="fan@example.org")
    async with desk_client(newsroom, role="admin") as client:
        asked = await client.get("/desk/topics/sports?ask=retire")
        assert "2 readers follow it" in asked.text and 'action="/desk/topics/sports/retire"' in asked.text
        retired = await _post(client, "/desk/topics/sports/retire", {}, "/desk/topics/sports")
        assert retired.status_code == 303
        assert "sports" not in newsroom.taxonomy and "(retired)" in (await client.get("/desk/topics")).text
        assert 'value="sports"' not in (await client.get("/desk")).text
        async with newsroom.reader.connect() as conn:
            kept = list(await conn.execute(select(follows.c.topic).where(follows.c.topic == "sports")))
        assert len(kept) == 2
        restored = await _post(client, "/desk/topics/sports/restore", {}, "/desk/topics/sports")
    assert restored.status_code == 303 and "sports" in newsroom.taxonomy
    actions = [action for actor, action, subject in await _actions(newsroom) if subject == "sports"]
    assert actions == ["topic retired", "topic restored"]


async def test_an_admin_adds_a_destination_shown_without_its_secret_and_stories_post_there(
    newsroom: Newsroom, webhook: Webhook, tmp_path
) -> None:
    url = webhook.url("json", "/hook?token=s3cret-token")
    async with desk_client(newsroom, role="admin") as client:
        await _post(client, "/desk/topics", CITY_HALL, "/desk/topics")
        no_topic = await _post(client, "/desk/social", {"target": url}, "/desk/social")
        bad_url = await _post(client, "/desk/social", {"target": "nosuch://x", "topic": "city-hall"}, "/desk/social")
        added = await _post(client, "/desk/social", {"target": url, "topic": ["city-hall"]}, "/desk/social")
        page = await client.get("/desk/social")
    assert no_topic.status_code == 422 and "<strong>Topics:</strong>" in no_topic.text
    assert bad_url.status_code == 422 and "<strong>Target:</strong>" in bad_url.text
    assert added.status_code == 303 and "s3cret" not in page.text and "apprise:json:" in page.text
    (destination,) = newsroom.distribution.by_topic["city-hall"]
    assert destination.target == url and destination.key in page.text

    publication = await publish_story(newsroom, await _story_on(newsroom, tmp_path, "city-hall"), actor="cli")
    assert [d.key for d in publication.social] == [destination.key]
    async with newsroom.reader.connect() as conn:
        assert list(await conn.execute(select(social_posts.c.destination))) == [(destination.key,)]
    assert ("desk:" + ADMIN_EMAIL, "social destination added", destination.key) in await _actions(newsroom)
    assert all("s3cret" not in (subject or "") for _, _, subject in await _actions(newsroom))


async def test_destinations_from_the_file_can_be_disabled_enabled_and_removed(
    settings: Settings, webhook: Webhook, tmp_path
) -> None:
    url = webhook.url("json")
    (tmp_path / "distribution.toml").write_text(f'[[topic]]\nslug = "sports"\napprise = ["{url}"]\n', "utf-8")
    async with await Newsroom.open(
        settings.model_copy(update={"distribution_file": tmp_path / "distribution.toml"})
    ) as room:
        (key,) = room.distribution.destinations
        async with desk_client(room, role="admin") as client:
            listed = await client.get("/desk/social")
            assert "apprise:json:" in listed.text and ">sports</td><td>on</td>" in listed.text
            disabled = await _post(client, "/desk/social/disable", {"key": key}, "/desk/social")
            assert disabled.status_code == 303 and not room.distribution
            assert ">sports</td><td>off</td>" in (await client.get("/desk/social")).text
            await _post(client, "/desk/social/enable", {"key": key}, "/desk/social")
            assert list(room.distribution.destinations) == [key]
            await _post(client, "/desk/social/remove", {"key": key}, "/desk/social")
            gone = await _post(client, "/desk/social/remove", {"key": key}, "/desk/social")
        assert not room.distribution and gone.status_code == 404 and "no destination" in gone.text
        assert len(room.taxonomy) == 21  # the first change copied the topics file in, unchanged


async def test_editors_and_forms_without_the_csrf_token_are_refused(newsroom: Newsroom) -> None:
    async with desk_client(newsroom) as client:
        for page in ("/desk/topics", "/desk/topics/sports", "/desk/social"):
            assert (await client.get(page)).status_code == 403
        token = csrf_of((await client.get("/desk")).text)
        refused = await client.post("/desk/topics", data={"csrf_token": token, **CITY_HALL})
        assert refused.status_code == 403 and "Topics" not in (await client.get("/desk")).text.split("<main")[0]
    async with desk_client(newsroom, role="admin") as client:
        forged = await client.post("/desk/topics", data=CITY_HALL)
        missing = await client.get("/desk/topics/no-such-topic")
    assert forged.status_code == 403 and "csrf_token" in forged.text
    assert missing.status_code == 404
    assert "city-hall" not in newsroom.taxonomy and newsroom.topic_settings_version is None


async def test_the_bot_offers_a_new_topic_at_once_and_a_retired_one_no_more(
    desk: Newsroom, editor_chat: EditorChat
) -> None:
    await add_topic(desk, TopicRow("city-hall", "City Hall", "", ("mayor",), ()), actor=ACTOR)
    (followed,) = await editor_chat.send("/follow City Hall", user_id=READER)
    assert "City Hall" in followed
    await editor_chat.send("/topics", user_id=READER)
    picker = max(
        (m for (chat, _), m in editor_chat.api.messages.items() if chat == READER), key=lambda m: m["message_id"]
    )
    pages = [b["text"] for row in picker["reply_markup"]["inline_keyboard"] for b in row]
    assert len(pages) > 1  # the picker's buttons come from the taxonomy in use now (the topic is on a later page)

    assert await retire_topic(desk, "city-hall", actor=ACTOR) == 1
    (refused,) = await editor_chat.send("/follow city-hall", user_id=READER)
    assert "City Hall" not in refused


async def test_posts_queued_for_a_destination_disabled_meanwhile_are_cancelled_not_sent(
    desk: Newsroom, telegram: TelegramChannel, webhook: Webhook
) -> None:
    await publish_story(desk, sample_story(desk), actor="test")  # north-korea: the outlet channel and the webhook
    (hook,) = [key for key in desk.distribution.destinations if key.startswith("apprise:")]

    await set_destination_enabled(desk, hook, False, actor=ACTOR)
    report = await SocialPoster(desk, telegram).drain()

    assert (report.sent, report.cancelled) == (1, 1) and webhook.posts == []
    async with desk.reader.connect() as conn:
        rows = dict(list(await conn.execute(select(social_posts.c.destination, social_posts.c.status))))
    assert rows[hook] == "cancelled" and rows[f"telegram:{OUTLET_CHANNEL}"] == "sent"


async def test_a_bad_change_to_a_topic_is_named_and_the_topic_stays_as_it_was(newsroom: Newsroom) -> None:
    async with desk_client(newsroom, role="admin") as client:
        page = "/desk/topics/sports"
        emptied = await _post(client, page, {"name": "Sport", "keywords": " "}, page)
        renamed_as_another = await _post(client, page, {"name": "North Korea", "keywords": "match"}, page)
        unknown = await _post(client, "/desk/social/explode", {"key": "apprise:json:0"}, "/desk/social")
    assert emptied.status_code == 422 and "<strong>Keywords:</strong>" in emptied.text
    assert 'value="Sport"' in emptied.text  # what was typed is kept
    assert renamed_as_another.status_code == 422 and "already names the topic &#39;north-korea&#39;" in (
        renamed_as_another.text
    )
    assert unknown.status_code == 404 and "<strong>Action:</strong>" in unknown.text
    assert newsroom.taxonomy["sports"].name == "Sports" and newsroom.topic_settings_version is None


async def test_a_retire_or_restore_that_cannot_be_done_names_why_and_changes_nothing(newsroom: Newsroom) -> None:
    *others, last = [topic.slug for topic in newsroom.taxonomy]
    for slug in others:
        await retire_topic(newsroom, slug, actor=ACTOR)
    async with desk_client(newsroom, role="admin") as client:
        page = f"/desk/topics/{last}"
        kept = await _post(client, f"{page}/retire", {}, page)
        unknown = await _post(client, "/desk/topics/no-such-topic/restore", {}, page)
    assert kept.status_code == 409 and "this is the last topic" in kept.text
    assert unknown.status_code == 404 and "There is no topic no-such-topic" in unknown.text
    assert [topic.slug for topic in newsroom.taxonomy] == [last]
    assert [action for _, action, subject in await _actions(newsroom) if subject == last] == []
