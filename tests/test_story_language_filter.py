"""Readers who read only some languages get only stories written in them: planning leaves them out of the others
(on every channel, breaking news and follow-ups too), the weekly digest leaves those stories out, and the choice
is made with the /settings buttons or the preference page's checkboxes, none meaning every language."""

from __future__ import annotations

import dataclasses

from bot.app.newsroom import Newsroom
from bot.outbox.digest_planning import queue_weekly_digests
from bot.stories.intake import ingest_story, prepare_for, publish_story
from bot.stories.parsing import parse_story
from bot.stories.story import Story
from subscribers import reader_languages, stories, story_language_filters
from subscribers.schema import Cadence, ChannelName, deliveries
from tests.email_readers import parse_mail, sample_story
from tests.fakes import FakeBotAPI, SmtpSink
from tests.newsroom_fixtures import add_reader
from tests.telegram_session import ChatSession, buttons, chat, labels
from tests.test_digest import WEEK, WEEKLY_CHAT, day
from tests.test_reader_pages import site

__all__ = ["chat", "site"]  # the fixtures

INSTANT_EMAIL = {ChannelName.EMAIL: Cadence.INSTANT}


def story_in(newsroom: Newsroom, language: str, title: str, *, breaking: bool = False, updates: str = "") -> Story:
    follow_up = f"updates: {updates}\n" if updates else ""
    text = (
        f"---\ntitle: {title}\nlanguage: {language}\ntopics: [local]\nbreaking: {str(breaking).lower()}\n"
        f"{follow_up}---\n{title}. The council met on Friday.\n"
    )
    return prepare_for(newsroom, parse_story(text, max_bytes=10_000), source="cli")


async def choose(newsroom: Newsroom, subscriber_id: int, *languages: str) -> None:
    async with newsroom.engine.begin() as conn:
        await story_language_filters.set_story_languages(conn, subscriber_id, languages)


async def test_a_german_only_reader_gets_the_german_story_and_not_the_english_one(
    live, bot_api: FakeBotAPI, smtp_sink: SmtpSink
) -> None:
    newsroom, worker = live
    german = await add_reader(
        newsroom, "local", telegram_chat="701", email="leserin@example.org", cadences=INSTANT_EMAIL
    )
    await add_reader(newsroom, "local", telegram_chat="702")  # every language
    both = await add_reader(newsroom, "local", telegram_chat="703")
    await choose(newsroom, german, "de")
    await choose(newsroom, both, "de", "en")

    english = story_in(newsroom, "en", "Council passes the budget")
    assert (await ingest_story(newsroom, english)).recipients == {"telegram": 2, "email": 0}
    deutsch = story_in(newsroom, "de", "Stadtrat beschliesst den Haushalt")
    assert (await publish_story(newsroom, deutsch, actor="cli", dry_run=True)).recipients == {
        "telegram": 3,
        "email": 1,
    }
    assert (await ingest_story(newsroom, deutsch)).recipients == {"telegram": 3, "email": 1}
    await worker.drain()

    assert [("Council" in text, "Stadtrat" in text) for text in bot_api.sent_to(701)] == [(False, True)]
    assert len(bot_api.sent_to(702)) == 2 and len(bot_api.sent_to(703)) == 2
    (mail,) = smtp_sink.received_by("leserin@example.org")
    assert parse_mail(mail)["Subject"] == "Stadtrat beschliesst den Haushalt"


async def test_breaking_news_and_follow_ups_in_another_language_stay_away_too(newsroom: Newsroom) -> None:
    weekly = await add_reader(newsroom, "local", telegram_chat="711", cadences=WEEKLY_CHAT)
    await choose(newsroom, weekly, "es")
    breaking = story_in(newsroom, "en", "Bridge closed after crash", breaking=True)
    assert (await ingest_story(newsroom, breaking)).recipients["telegram"] == 0
    spanish = story_in(newsroom, "es", "Puente cerrado tras un choque", breaking=True)
    assert (await ingest_story(newsroom, spanish)).recipients["telegram"] == 1

    async with newsroom.engine.begin() as conn:  # the reader had the Spanish story
        await conn.execute(
            deliveries.update()
            .where(deliveries.c.story_id == spanish.id)
            .values(status="sent", sent_at=newsroom.clock.now())
        )
        await story_language_filters.set_story_languages(conn, weekly, ["es"])
    follow_up = story_in(newsroom, "en", "Bridge reopens", updates=spanish.id)
    assert (await ingest_story(newsroom, follow_up)).recipients["telegram"] == 0
    seguimiento = story_in(newsroom, "es", "El puente reabre", updates=spanish.id)
    assert (await ingest_story(newsroom, seguimiento)).recipients["telegram"] == 1


async def test_the_digest_leaves_out_stories_in_languages_the_reader_did_not_choose(live, bot_api: FakeBotAPI) -> None:
    newsroom, worker = live
    german = await add_reader(newsroom, "local", telegram_chat="721", cadences=WEEKLY_CHAT)
    await add_reader(newsroom, "local", telegram_chat="722", cadences=WEEKLY_CHAT)
    only_french = await add_reader(newsroom, "local", telegram_chat="723", cadences=WEEKLY_CHAT)
    await choose(newsroom, german, "de")
    await choose(newsroom, only_french, "fr")
    async with newsroom.engine.begin() as conn:
        await reader_languages.set_language(conn, german, "de")
        for when, story_id, title, language in [
            (day(0), "budget", "Council passes the 2027 budget", "en"),
            (day(1), "haushalt", "Stadtrat beschliesst den Haushalt", "de"),
            (day(2), "parade", "Parade draws crowds", "en"),
        ]:
            story = dataclasses.replace(sample_story(newsroom, story_id, title, "local"), language=language)
            assert await stories.save_story(conn, story, when)

    # No French story, so no digest for the French-only reader: not counted, not queued, nothing cancelled.
    assert (await queue_weekly_digests(newsroom, WEEK, dry_run=True)).queued == {"telegram": 2, "email": 0}
    assert (await queue_weekly_digests(newsroom, WEEK)).queued == {"telegram": 2, "email": 0}
    report = await worker.drain()
    assert report.sent == {"telegram": 2} and not report.cancelled

    (digest,) = bot_api.sent_to(721)
    assert "Stadtrat beschliesst den Haushalt" in digest and "1 Artikel" in digest
    assert "Council passes" not in digest and "Parade" not in digest
    (everything,) = bot_api.sent_to(722)
    assert all(title in everything for title in ("Council passes", "Stadtrat", "Parade"))
    assert bot_api.sent_to(723) == []


async def test_the_settings_buttons_choose_story_languages_and_all_languages_resets(chat: ChatSession) -> None:
    reader = 9201
    await chat.say(reader, "/start", language_code="de")
    await chat.say(reader, "/follow local", language_code="de")
    async with chat.newsroom.engine.begin() as conn:  # the outlet has published in Spanish
        spanish = dataclasses.replace(sample_story(chat.newsroom, "noticia", "Presupuesto", "local"), language="es")
        await stories.save_story(conn, spanish, chat.newsroom.clock.now())
    settings = await chat.say(reader, "/settings", language_code="de")
    assert ("🌐 Sprachen der Artikel", "sl") in [button for row in buttons(settings) for button in row]

    await chat.press(reader, settings["message_id"], "sl")
    panel = chat.api.messages[(reader, settings["message_id"])]
    assert "Sie erhalten Artikel in allen Sprachen." in panel["text"]
    assert buttons(panel) == [
        [("English", "sl:en"), ("Español", "sl:es")],
        [("✅ Alle Sprachen", "sl:*")],
    ]

    await chat.press(reader, settings["message_id"], "sl:es")
    await chat.press(reader, settings["message_id"], "sl:en")
    panel = chat.api.messages[(reader, settings["message_id"])]
    assert "Sie erhalten nur Artikel auf English, Español." in panel["text"]
    assert labels(panel) == ["✅ English", "✅ Español", "Alle Sprachen"]
    assert await stored_choice(chat, reader) == {"en", "es"}

    await chat.press(reader, settings["message_id"], "sl:en")
    assert await stored_choice(chat, reader) == {"es"}
    await chat.press(reader, settings["message_id"], "sl:*")
    assert await stored_choice(chat, reader) == set()
    assert "✅ Alle Sprachen" in labels(chat.api.messages[(reader, settings["message_id"])])


async def stored_choice(session: ChatSession, chat_id: int) -> set[str]:
    async with session.newsroom.engine.connect() as conn:
        found = await reader_languages.chat_language(conn, str(chat_id))
        assert found is not None
        return set(await story_language_filters.story_languages_of(conn, found[0]))


async def test_the_preference_page_ticks_story_languages_and_refuses_an_unknown_code(site) -> None:
    newsroom, _, client = site
    subscriber_id = await add_reader(newsroom, "local", email="reader@example.org")
    page_path = newsroom.signer.preferences_url(subscriber_id).removeprefix(newsroom.settings.public_url)
    page = await client.get(page_path)
    assert 'name="story_language" value="en" lang="en">English' in page.text  # the outlet's, unticked: all

    saved = await client.post(page_path, data={"topic": ["local"], "cadence_email": "weekly", "story_language": "de"})
    assert saved.status_code == 200 and "Your preferences are saved." in saved.text
    assert 'name="story_language" value="de" checked lang="de">Deutsch' in saved.text
    async with newsroom.reader.connect() as conn:
        assert await story_language_filters.story_languages_of(conn, subscriber_id) == {"de"}

    refused = await client.post(
        page_path, data={"topic": ["local"], "cadence_email": "weekly", "story_language": ["en", "klingon"]}
    )
    assert refused.status_code == 400 and "story_language: &#39;klingon&#39; is not a language code" in refused.text
    async with newsroom.reader.connect() as conn:
        assert await story_language_filters.story_languages_of(conn, subscriber_id) == {"de"}, "nothing changed"

    cleared = await client.post(page_path, data={"topic": ["local"], "cadence_email": "weekly"})
    assert "Your preferences are saved." in cleared.text
    async with newsroom.reader.connect() as conn:
        assert await story_language_filters.story_languages_of(conn, subscriber_id) == frozenset()
