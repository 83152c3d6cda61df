"""The weekly digest in each reader's language: a German chat and a Spanish inbox get the same week's stories, as
written, in their own words and dates, and readers of one language share one rendering."""

from __future__ import annotations

from bot.outbox.digest_planning import queue_weekly_digests
from subscribers import reader_languages
from subscribers.schema import Cadence, ChannelName
from tests.email_readers import bodies, parse_mail
from tests.fakes import FakeBotAPI, SmtpSink
from tests.newsroom_fixtures import add_reader
from tests.test_digest import WEEK, WEEKLY_CHAT, a_week_of_news


async def test_a_german_chat_and_a_spanish_inbox_each_get_the_digest_in_their_language(
    live, bot_api: FakeBotAPI, smtp_sink: SmtpSink
) -> None:
    newsroom, worker = live
    german = await add_reader(newsroom, "local", telegram_chat="601", cadences=WEEKLY_CHAT)
    spanish = await add_reader(newsroom, "local", "us-politics", email="lectora@example.org")
    await add_reader(newsroom, "local", telegram_chat="602", cadences=WEEKLY_CHAT)  # no language: the default
    async with newsroom.engine.begin() as conn:
        await reader_languages.set_language(conn, german, "de")
        await reader_languages.set_language(conn, spanish, "es")
    await a_week_of_news(newsroom)

    await queue_weekly_digests(newsroom, WEEK)
    assert (await worker.drain()).sent == {"telegram": 2, "email": 1}

    (digest,) = bot_api.sent_to(601)  # the texts sent
    assert digest.startswith("📰 <b>Fairview Gazette: Ihre Woche in Nachrichten</b>\n2.–8. März 2026 · 3 Artikel")
    assert "Council passes the 2027 budget" in digest  # stories stay as written
    assert "Das ist Ihr Wochenüberblick." in digest
    (english,) = bot_api.sent_to(602)
    assert english.startswith("📰 <b>Fairview Gazette: your week in news</b>\nMarch 2 – 8, 2026 · 3 stories")

    message = parse_mail(smtp_sink.messages[0].data)
    assert message["Subject"] == "Senate race tightens in the county ... y 3 noticias más"
    text, html = bodies(message)
    assert text.startswith("Fairview Gazette - tu semana en noticias\r\n2–8 de marzo de 2026")
    assert "Seguir leyendo: https://fairview-gazette.example/budget" in text
    assert "Gestionar preferencias" in html and "Darse de baja" in html
    assert 'lang="es"' in html


async def test_readers_of_one_language_share_one_rendering(live, smtp_sink: SmtpSink) -> None:
    newsroom, worker = live
    weekly = {ChannelName.EMAIL: Cadence.WEEKLY}
    ids = [await add_reader(newsroom, "local", email=f"r{n}@example.org", cadences=weekly) for n in range(4)]
    async with newsroom.engine.begin() as conn:
        for subscriber_id in ids[:2]:
            await reader_languages.set_language(conn, subscriber_id, "de")
    await a_week_of_news(newsroom)
    await queue_weekly_digests(newsroom, WEEK)
    before = newsroom.renderer.mjml_compiles
    assert (await worker.drain()).sent == {"email": 4}
    assert newsroom.renderer.mjml_compiles - before == 2  # one German, one English
    subjects = sorted(parse_mail(sent.data)["Subject"] for sent in smtp_sink.messages)
    assert (
        subjects
        == ["Senate race tightens in the county ... and 2 more stories"] * 2
        + ["Senate race tightens in the county ... und 2 weitere Artikel"] * 2
    )
