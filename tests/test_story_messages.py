"""Telegram story messages: bold headline and summary, Read more / Unfollow / Settings buttons, the link preview
chosen on purpose, silence for all but breaking news, a photo when the story has a picture (caption within 1,024
characters), and corrections that keep the buttons. Images come from every door and reach email too."""

from __future__ import annotations

import dataclasses
from typing import Any

import feedparser
import httpx
import pytest

from bot.app.newsroom import Newsroom
from bot.editors.drafts import PendingStory
from bot.editors.panel import panel_text
from bot.outbox.story_messages import telegram_story
from bot.outbox.worker import DeliveryWorker
from bot.rendering.renderer import Renderer
from bot.stories.corrections import correct_story
from bot.stories.feeds import _draft as feed_draft
from bot.stories.intake import ingest_story, prepare_for
from bot.stories.parsing import parse_story, read_story_file
from bot.stories.story import Story
from bot.stories.summarising import sentences
from bot.web import create_app
from subscribers import stories
from tests.editor_fixtures import API_TOKEN
from tests.fakes import FakeBotAPI
from tests.fakes.telegram_html import parse_html
from tests.newsroom_fixtures import SAMPLE_STORY, add_reader
from tests.telegram_session import ChatSession, buttons, chat, eventually, ingest_sample

__all__ = ["chat"]  # the fixture, imported for this module's tests

LIMIT = 1_000_000
PICTURE = "https://fairview-gazette.example/images/council.jpg"


def sample(newsroom: Newsroom, **changes: Any) -> Story:
    story = prepare_for(newsroom, read_story_file(SAMPLE_STORY, LIMIT), source="cli")
    return dataclasses.replace(story, **changes)


async def deliver(live: tuple[Newsroom, DeliveryWorker], story: Story, chat: str = "101") -> Story:
    newsroom, worker = live
    await add_reader(newsroom, "north-korea", telegram_chat=chat)
    await ingest_story(newsroom, story)
    await worker.drain()
    return story


def keyboard(params: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return params["reply_markup"]["inline_keyboard"]


# --- the message ----------------------------------------------------------------------------------------------


async def test_the_sample_story_goes_out_with_buttons_no_preview_and_no_sound(
    live: tuple[Newsroom, DeliveryWorker], bot_api: FakeBotAPI
) -> None:
    newsroom, _ = live
    story = await deliver(live, sample(newsroom))
    (params,) = bot_api.calls_to("sendMessage")
    assert keyboard(params) == [
        [{"text": "Read more", "url": f"{newsroom.settings.public_url}/stories/{story.id}"}],
        [
            {"text": "Unfollow North Korea", "callback_data": "st:unf:north-korea"},
            {"text": "Settings", "callback_data": "st:set"},
        ],
    ]
    assert params["link_preview_options"] == {"is_disabled": True}  # no URL of its own to preview
    assert params["disable_notification"] is True
    text = params["text"]
    assert text.startswith(f"<b>{story.title}</b>\n\n")
    plain, _ = parse_html(text)
    shown = [story.title, *sentences(story.summary)]
    assert len(shown) == len(set(shown)) and "In a candid exchange" not in plain  # no sentence twice
    assert "…" not in story.title


async def test_each_reader_unfollows_the_first_story_topic_they_follow_under_the_same_text(
    live: tuple[Newsroom, DeliveryWorker], bot_api: FakeBotAPI
) -> None:
    newsroom, worker = live
    story = sample(newsroom)
    assert story.topics[:2] == ("north-korea", "us-politics")
    await add_reader(newsroom, "north-korea", telegram_chat="101")
    await add_reader(newsroom, "us-politics", telegram_chat="102")
    await add_reader(newsroom, "russia", "us-politics", telegram_chat="103")
    await ingest_story(newsroom, story)
    await worker.drain()
    sent = {params["chat_id"]: params for params in bot_api.calls_to("sendMessage")}
    unfollow = {int(chat): keyboard(params)[1][0] for chat, params in sent.items()}
    assert unfollow == {
        101: {"text": "Unfollow North Korea", "callback_data": "st:unf:north-korea"},
        102: {"text": "Unfollow US Politics", "callback_data": "st:unf:us-politics"},
        103: {"text": "Unfollow US Politics", "callback_data": "st:unf:us-politics"},  # the story's order
    }
    assert len({params["text"] for params in sent.values()}) == 1  # one rendering shared by all
    # Someone reached though following none of its topics (a follow-up's reader of the original) gets no Unfollow.
    alone = telegram_story(newsroom, story).message("k", "104", followed=frozenset({"sports"}))
    assert [[button.text for button in row] for row in alone.keyboard] == [["Read more"], ["Settings"]]


async def test_a_breaking_story_with_a_url_rings_and_previews_its_own_page(
    live: tuple[Newsroom, DeliveryWorker], bot_api: FakeBotAPI
) -> None:
    newsroom, _ = live
    url = "https://fairview-gazette.example/nk-talks"
    await deliver(live, sample(newsroom, breaking=True, url=url, id="nk-breaking"))
    (params,) = bot_api.calls_to("sendMessage")
    assert params.get("disable_notification") in (None, False)
    assert params["link_preview_options"] == {"url": url, "prefer_large_media": True, "show_above_text": False}
    assert keyboard(params)[0] == [{"text": "Read more", "url": url}]


async def test_a_story_with_a_picture_is_a_photo_whose_caption_fits_1024_characters(
    live: tuple[Newsroom, DeliveryWorker], bot_api: FakeBotAPI
) -> None:
    newsroom, _ = live
    long_summary = "\n\n".join(SAMPLE_STORY.read_text(encoding="utf-8").split("\n")[1:8])
    story = sample(newsroom, image_url=PICTURE, image_alt="The council chamber", summary=long_summary)
    await deliver(live, story)
    assert bot_api.calls_to("sendMessage") == []
    (params,) = bot_api.calls_to("sendPhoto")
    assert params["photo"] == PICTURE and params["disable_notification"] is True
    caption, _ = parse_html(params["caption"])  # valid Telegram HTML, nothing cut open
    assert len(caption.encode("utf-16-le")) // 2 <= 1024 and len(long_summary) > 1024
    assert params["caption"].startswith(f"<b>{story.title}</b>") and "…" in caption
    assert keyboard(params)[1][1] == {"text": "Settings", "callback_data": "st:set"}
    sent = bot_api.messages[(101, 1)]
    assert [size["width"] for size in sent["photo"]] == [90, 320, 800, 1280] and sent["caption"] == caption


async def test_a_correction_edits_the_text_and_keeps_the_buttons(
    live: tuple[Newsroom, DeliveryWorker], bot_api: FakeBotAPI
) -> None:
    newsroom, worker = live
    story = await deliver(live, sample(newsroom))
    corrected = SAMPLE_STORY.read_text(encoding="utf-8").replace("very good relationship", "good relationship")
    draft = parse_story(corrected, max_bytes=LIMIT)
    await correct_story(newsroom, story.id, draft, actor="test", note="A quote was misstated.")
    await worker.drain()
    (edit,) = bot_api.calls_to("editMessageText")
    assert "good relationship" in edit["text"] and "very good" not in edit["text"]
    assert bot_api.messages[(101, 1)]["reply_markup"] == bot_api.calls_to("sendMessage")[0]["reply_markup"]


async def test_a_correction_keeps_the_topic_the_readers_own_unfollow_names(
    live: tuple[Newsroom, DeliveryWorker], bot_api: FakeBotAPI
) -> None:
    newsroom, worker = live
    story = sample(newsroom)
    await add_reader(newsroom, "us-politics", telegram_chat="102")
    await ingest_story(newsroom, story)
    await worker.drain()
    corrected = SAMPLE_STORY.read_text(encoding="utf-8").replace("very good relationship", "good relationship")
    await correct_story(newsroom, story.id, parse_story(corrected, max_bytes=LIMIT), actor="test", note="A quote.")
    await worker.drain()
    (edit,) = bot_api.calls_to("editMessageText")
    assert keyboard(edit)[1][0] == {"text": "Unfollow US Politics", "callback_data": "st:unf:us-politics"}
    assert edit["reply_markup"] == bot_api.calls_to("sendMessage")[0]["reply_markup"]


async def test_a_correction_of_a_photo_edits_its_caption_and_keeps_the_buttons(
    live: tuple[Newsroom, DeliveryWorker], bot_api: FakeBotAPI
) -> None:
    newsroom, worker = live
    text = f"---\nimage: {PICTURE}\nimage_alt: The council chamber\n---\n" + SAMPLE_STORY.read_text(encoding="utf-8")
    story = prepare_for(newsroom, parse_story(text, max_bytes=LIMIT), source="cli")
    await deliver(live, story)
    draft = parse_story(text.replace("very good relationship", "good relationship"), max_bytes=LIMIT)
    await correct_story(newsroom, story.id, draft, actor="test", note="A quote was misstated.")
    await worker.drain()
    assert bot_api.calls_to("editMessageText") == []
    (edit,) = bot_api.calls_to("editMessageCaption")
    assert "Corrected: A quote was misstated." in edit["caption"]
    stored = bot_api.messages[(101, 1)]
    assert stored["reply_markup"] == bot_api.calls_to("sendPhoto")[0]["reply_markup"] and "photo" in stored


async def test_an_outlet_channel_post_gets_the_photo_and_read_more_but_no_reader_buttons(
    live: tuple[Newsroom, DeliveryWorker], bot_api: FakeBotAPI
) -> None:
    from bot.outbox.social import SocialPoster

    newsroom, worker = live
    bot_api.add_chat("@fairview_news", id=-1001, type="channel", title="Fairview News", username="fairview_news")
    story = sample(newsroom, image_url=PICTURE, url="https://fairview-gazette.example/nk")
    await ingest_story(newsroom, story)
    poster = SocialPoster(newsroom, worker.channels["telegram"])
    await poster.drain()
    photos = [params for params in bot_api.calls_to("sendPhoto") if params["chat_id"] == "@fairview_news"]
    if not photos:
        pytest.skip("the test distribution posts no North Korea story to a Telegram channel")
    assert keyboard(photos[0]) == [[{"text": "Read more", "url": "https://fairview-gazette.example/nk"}]]


# --- the buttons, through python-telegram-bot -----------------------------------------------------------------


async def test_unfollow_under_a_story_stops_that_topic_with_a_toast(chat: ChatSession) -> None:
    await chat.say(101, "/follow north-korea")
    await ingest_sample(chat)
    story_message = await eventually(
        lambda: next(
            (
                m
                for (c, _), m in chat.api.messages.items()
                if c == 101 and "reply_markup" in m and any(d == "st:set" for row in buttons(m) for _, d in row)
            ),
            None,
        ),
        what="the story message",
    )
    answer = await chat.press(101, story_message["message_id"], "st:unf:north-korea")
    assert answer["text"] == "Done: you no longer follow North Korea. /topics to pick again."
    reader = await chat.reader(101)
    assert reader is not None and "north-korea" not in reader.topics
    again = await chat.press(101, story_message["message_id"], "st:unf:north-korea")
    assert again["text"] == "You were not following North Korea."


async def test_settings_under_a_story_opens_the_cadence_buttons(chat: ChatSession) -> None:
    await chat.say(101, "/follow north-korea")
    await ingest_sample(chat)
    story_message = await eventually(
        lambda: next(
            (
                m
                for (c, _), m in chat.api.messages.items()
                if c == 101 and "reply_markup" in m and any(d == "st:set" for row in buttons(m) for _, d in row)
            ),
            None,
        ),
        what="the story message",
    )
    before = len(chat.api.sent_messages)
    await chat.press(101, story_message["message_id"], "st:set")
    await eventually(lambda: len(chat.api.sent_messages) > before, what="the settings message")
    settings_message = chat.latest(101)
    assert any(
        data.startswith("cad:") or "instant" in label.lower()
        for row in buttons(settings_message)
        for label, data in row
    )


# --- headlines in the editor's panel --------------------------------------------------------------------------


def test_the_panel_says_when_the_headline_was_derived(newsroom: Newsroom) -> None:
    story = sample(newsroom)
    pending = PendingStory(nonce="ab", story=story, candidates=list(story.topics), selected=list(story.topics))
    assert "(derived from the lead)" in panel_text(pending, newsroom.taxonomy, [])
    pending.story = dataclasses.replace(story, title="Trump open to new Kim talks")
    assert "derived" not in panel_text(pending, newsroom.taxonomy, [])


def test_an_editors_title_is_used_as_given(newsroom: Newsroom) -> None:
    text = "---\ntitle: Trump, Kim and a phone call…\n---\n" + SAMPLE_STORY.read_text(encoding="utf-8")
    story = prepare_for(newsroom, parse_story(text, max_bytes=LIMIT), source="cli")
    assert story.title == "Trump, Kim and a phone call…" and not story.headline_derived
    assert story.summary.startswith("In a candid exchange")  # with a title, the lead stays in the summary


def test_a_one_sentence_story_shows_its_sentence_once(newsroom: Newsroom) -> None:
    renderer = Renderer(newsroom.settings, newsroom.taxonomy)
    story = prepare_for(
        newsroom, parse_story("Storm closes all Fairview schools on Monday.", max_bytes=LIMIT), source="cli"
    )
    assert story.title == "Storm closes all Fairview schools on Monday" and story.summary == ""
    plain, _ = parse_html(renderer.telegram_message(story))
    assert plain.count("Storm closes") == 1


# --- images from every door -----------------------------------------------------------------------------------


def test_front_matter_image_and_alt() -> None:
    draft = parse_story(f"---\nimage: {PICTURE}\nimage_alt: The chamber\n---\nThe council met.", max_bytes=LIMIT)
    assert (draft.image_url, draft.image_alt) == (PICTURE, "The chamber")


@pytest.mark.parametrize("bad", ["javascript:alert(1)", "/images/a.jpg", "data:image/png;base64,AAAA", "[1, 2]"])
def test_a_front_matter_image_that_is_no_http_url_is_refused(bad: str) -> None:
    from bot.app.errors import StoryRejected

    with pytest.raises(StoryRejected, match="image"):
        parse_story(f"---\nimage: {bad}\n---\nThe council met.", max_bytes=LIMIT)


def test_the_first_img_of_an_html_body_is_the_picture_and_leaves_the_text() -> None:
    body = (
        f'<figure><img src="{PICTURE}" alt="The chamber"><figcaption>Photo: City</figcaption></figure>'
        '<p>The council met.</p><p><img src="https://x.example/second.jpg" alt="Second"> Then it voted.</p>'
    )
    draft = parse_story(body, max_bytes=LIMIT, markup="html")
    assert (draft.image_url, draft.image_alt) == (PICTURE, "The chamber")
    assert draft.body == "The council met.\n\nThen it voted." and "img" not in draft.body


def test_an_img_with_a_relative_or_script_source_is_no_picture() -> None:
    draft = parse_story('<p><img src="/a.jpg"><img src="javascript:x">The council met.</p>', max_bytes=LIMIT)
    assert draft.image_url is None and draft.body == "The council met."


def test_a_feed_entry_takes_its_media_content_or_enclosure_image() -> None:
    feed = f"""<?xml version="1.0"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>Gazette</title>
<item><title>Council meets</title><link>https://x.example/a</link><description>The council met.</description>
<media:content url="{PICTURE}" medium="image" type="image/jpeg"/></item>
<item><title>Council votes</title><link>https://x.example/b</link><description>It voted.</description>
<enclosure url="https://x.example/b.jpg" type="image/jpeg" length="1000"/></item>
<item><title>Podcast</title><link>https://x.example/c</link><description>Listen.</description>
<enclosure url="https://x.example/c.mp3" type="audio/mpeg" length="1000"/></item>
</channel></rss>"""
    entries = feedparser.parse(feed).entries
    assert [feed_draft(entry, LIMIT).image_url for entry in entries] == [PICTURE, "https://x.example/b.jpg", None]


async def test_the_api_takes_image_url_and_refuses_one_that_is_not_http(desk: Newsroom) -> None:
    transport = httpx.ASGITransport(app=create_app(desk))
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        refused = await client.post(
            "/api/stories", json={"body": "The council met.", "image_url": "ftp://x.example/a.jpg"}, headers=auth
        )
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "image_url"]
        answer = await client.post(
            "/api/stories", json={"body": "The council met.", "image_url": PICTURE}, headers=auth
        )
    assert answer.status_code == 201, answer.text
    async with desk.reader.connect() as conn:
        stored = await stories.load_story(conn, answer.json()["id"], Story)
    assert stored is not None and stored.image_url == PICTURE


async def test_the_store_keeps_the_picture_and_its_alt(newsroom: Newsroom) -> None:
    story = sample(newsroom, image_url=PICTURE, image_alt="The chamber")
    await ingest_story(newsroom, story)
    async with newsroom.reader.connect() as conn:
        stored = await stories.load_story(conn, story.id, Story)
    assert stored is not None and (stored.image_url, stored.image_alt) == (PICTURE, "The chamber")


def test_the_email_shows_the_picture_at_the_top_with_its_alt_and_the_plain_part_names_it(newsroom: Newsroom) -> None:
    renderer = Renderer(newsroom.settings, newsroom.taxonomy)
    compiled = renderer.compile_email(sample(newsroom, image_url=PICTURE, image_alt="The council chamber"))
    assert f'src="{PICTURE}"' in compiled.html and 'alt="The council chamber"' in compiled.html
    assert compiled.html.index(PICTURE) < compiled.html.index("<h1")
    assert f"[Photo: The council chamber] {PICTURE}" in compiled.text
    plain = renderer.compile_email(sample(newsroom))
    assert "<img" not in plain.html and "Photo:" not in plain.text
