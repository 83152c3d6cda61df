"""Email readers in their own language: the signup page and what follows it speak the browser's language
(Accept-Language), the reader's choice on the preference page sticks, and anything else falls back to English."""

from __future__ import annotations

from bot.outbox.digest_planning import queue_weekly_digests
from bot.outbox.worker import DeliveryWorker
from subscribers import reader_languages
from tests.email_readers import bodies, email_row, parse_mail, path_of, store_story_at
from tests.fakes import SmtpSink
from tests.test_digest import MONDAY
from tests.test_reader_pages import link_in, site

__all__ = ["site"]  # the fixture, imported for this module's tests

SPANISH = {"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"}


async def test_a_spanish_reader_signs_up_confirms_and_sets_preferences_in_spanish(site, smtp_sink: SmtpSink) -> None:
    newsroom, channel, client = site
    form = await client.get("/subscribe", headers=SPANISH)
    assert '<html lang="es">' in form.text
    assert "Recibe nuestras noticias por correo" in form.text and "Suscribirme" in form.text
    sent = await client.post("/subscribe", data={"email": "lectora@example.org", "topic": ["local"]}, headers=SPANISH)
    assert sent.status_code == 200 and "Revisa tu bandeja de entrada" in sent.text

    (confirmation,) = smtp_sink.received_by("lectora@example.org")
    message = parse_mail(confirmation)
    assert message["Subject"] == "Confirma tu suscripción a Fairview Gazette"
    text, html = bodies(message)
    assert "Para confirmarlo, abre este enlace:" in text and "Sí, suscribirme" in html
    row = await email_row(newsroom, "lectora@example.org")
    async with newsroom.engine.connect() as conn:
        assert await reader_languages.language_of(conn, row["subscriber_id"]) == "es"

    confirmed = await client.get(path_of(link_in(confirmation, "confirm")))  # another browser: the reader's language
    assert "Ya estás suscrito" in confirmed.text
    preferences = path_of(link_in(confirmation, "preferences"))
    page = await client.get(preferences)
    assert "Tus preferencias" in page.text and "Un resumen semanal" in page.text
    assert 'name="language" value="es" checked' in page.text

    saved = await client.post(preferences, data={"topic": ["local"], "cadence_email": "weekly", "language": "de"})
    assert "Ihre Einstellungen sind gespeichert." in saved.text and '<html lang="de">' in saved.text
    await store_story_at(newsroom, MONDAY, "budget", "Council passes the 2027 budget", "local")
    await queue_weekly_digests(newsroom, "2026-W10")
    assert (await DeliveryWorker(newsroom, {"email": channel}).drain()).sent == {"email": 1}
    digest_text, _ = bodies(parse_mail(smtp_sink.received_by("lectora@example.org")[-1]))
    assert digest_text.startswith("Fairview Gazette - Ihre Woche in Nachrichten")


async def test_a_language_newsbot_does_not_speak_gets_english_and_a_bad_choice_is_refused(
    site, smtp_sink: SmtpSink
) -> None:
    _, _, client = site
    form = await client.get("/subscribe", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert '<html lang="en">' in form.text and "Get our news by email" in form.text
    await client.post("/subscribe", data={"email": "lecteur@example.org", "topic": ["local"]})
    (confirmation,) = smtp_sink.received_by("lecteur@example.org")
    assert parse_mail(confirmation)["Subject"] == "Confirm your subscription to Fairview Gazette"
    preferences = path_of(link_in(confirmation, "preferences"))
    refused = await client.post(preferences, data={"topic": ["local"], "language": "klingon"})
    assert refused.status_code == 400 and "language: choose one of en, de, es" in refused.text
