"""A story reaches each reader as the outlet wrote it, dressed in the reader's language: the chrome of the Telegram
message and its buttons, and of the email, rendered once per story and language."""

from __future__ import annotations

from bot.app.newsroom import Newsroom
from bot.outbox.worker import DeliveryWorker
from bot.stories.corrections import correct_story
from bot.stories.intake import ingest_story
from subscribers import reader_languages
from subscribers.schema import Cadence, ChannelName
from tests.email_readers import bodies, parse_mail
from tests.fakes import FakeBotAPI, SmtpSink
from tests.newsroom_fixtures import add_reader
from tests.test_delivery import sample
from tests.test_story_corrections import FIXED, draft, publish
from tests.test_story_messages import keyboard


async def test_a_german_and_a_spanish_reader_get_the_story_as_written_in_their_own_chrome(
    live: tuple[Newsroom, DeliveryWorker], bot_api: FakeBotAPI, smtp_sink: SmtpSink
) -> None:
    newsroom, worker = live
    german = await add_reader(newsroom, "north-korea", telegram_chat="201")
    await add_reader(newsroom, "north-korea", telegram_chat="202")
    spanish = await add_reader(
        newsroom, "north-korea", email="lector@example.org", cadences={ChannelName.EMAIL: Cadence.INSTANT}
    )
    async with newsroom.engine.begin() as conn:
        await reader_languages.set_language(conn, german, "de")
        await reader_languages.set_language(conn, spanish, "es")
    story = sample(newsroom)
    await ingest_story(newsroom, story)
    before = newsroom.renderer.mjml_compiles
    await worker.drain()

    sent = {int(params["chat_id"]): params for params in bot_api.calls_to("sendMessage")}
    assert [[button["text"] for button in row] for row in keyboard(sent[201])] == [
        ["Weiterlesen"],
        ["North Korea abbestellen", "Einstellungen"],
    ]
    assert [[button["text"] for button in row] for row in keyboard(sent[202])] == [
        ["Read more"],
        ["Unfollow North Korea", "Settings"],
    ]
    assert sent[201]["text"] == sent[202]["text"]  # nothing of the story's own text is translated

    text, html = bodies(parse_mail(smtp_sink.received_by("lector@example.org")[0]))
    assert story.title in html and "Leer la noticia completa" in html and "Darse de baja:" in text
    assert newsroom.renderer.mjml_compiles - before == 3  # once per language its readers read, not per reader


async def test_a_correction_notice_and_an_edited_copy_speak_the_readers_language(
    live: tuple[Newsroom, DeliveryWorker], bot_api: FakeBotAPI, smtp_sink: SmtpSink
) -> None:
    newsroom, worker = live
    german = await add_reader(newsroom, "local", telegram_chat="301")
    spanish = await add_reader(
        newsroom, "local", email="lector@example.org", cadences={ChannelName.EMAIL: Cadence.INSTANT}
    )
    async with newsroom.engine.begin() as conn:
        await reader_languages.set_language(conn, german, "de")
        await reader_languages.set_language(conn, spanish, "es")
    story = await publish(newsroom)
    await worker.drain()
    await correct_story(newsroom, story.id, draft(FIXED), note="Figure fixed.", notify=True, actor="cli")
    await worker.drain()

    edited = bot_api.calls_to("editMessageText")[-1]
    assert keyboard(edited)[0][0]["text"] == "Weiterlesen"
    assert "<i>Korrigiert: Figure fixed.</i>" in edited["text"]
    notice = bot_api.calls_to("sendMessage")[-1]["text"]
    assert notice.startswith("✏️ <b>Korrektur</b>: Council passes")
    mail = parse_mail(smtp_sink.received_by("lector@example.org")[-1])
    assert mail["Subject"].startswith("Corrección: Council passes")
    text, _ = bodies(mail)
    assert "Hemos corregido una noticia que te enviamos." in text and "Figure fixed." in text
