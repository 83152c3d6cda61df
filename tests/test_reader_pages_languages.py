"""Email readers in their own language: the signup page and what follows it speak the browser's language
(Accept-Language), the reader's choice on the preference page sticks, and anything else falls back to English."""

from __future__ import annotations

import time

from bot.outbox.digest_planning import queue_weekly_digests
from bot.outbox.worker import DeliveryWorker
from bot.rendering.signed_links import LinkSigner
from subscribers import reader_languages
from tests.email_readers import bodies, email_row, parse_mail, path_of, store_story_at
from tests.fakes import SmtpSink
from tests.newsroom_fixtures import add_reader
from tests.test_digest import MONDAY
from tests.test_reader_pages import link_in, site
from tests.test_request_limits import Clock

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


async def test_a_spanish_browser_is_told_in_spanish_of_a_broken_link_a_refused_signup_and_a_wait(
    site, smtp_sink: SmtpSink
) -> None:
    newsroom, _, client = site
    newsroom.request_limits.clock = Clock()  # the middle of a minute: 30 seconds to its end
    reader = await add_reader(newsroom, "local", email="lector@example.org")
    forged = LinkSigner("not-our-secret", newsroom.settings.public_url)
    broken = await client.get(path_of(forged.preferences_url(reader)), headers=SPANISH)
    assert broken.status_code == 400 and broken.headers["content-language"] == "es"
    assert broken.headers["vary"] == "Accept-Language" and '<html lang="es">' in broken.text
    assert (
        "Este enlace no funciona" in broken.text and "Este enlace no es válido. No se ha cambiado nada." in broken.text
    )
    assert "Volver a suscribirse" in broken.text

    no_topic = await client.post("/subscribe", data={"email": "nueva@example.org"}, headers=SPANISH)
    assert no_topic.status_code == 400 and "elige al menos un tema que seguir" in no_topic.text
    typo = await client.post("/subscribe", data={"email": "nueva@example", "topic": "local"}, headers=SPANISH)
    assert typo.status_code == 400 and "La parte después de la @ no es válida: le falta un punto." in typo.text

    answers = [
        await client.post("/subscribe", data={"email": f"lector{n}@example.org", "topic": "local"}, headers=SPANISH)
        for n in range(newsroom.settings.signup_limit_per_client)
    ]
    refused = answers[-1]  # the two refusals above counted too
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
    assert refused.headers["content-language"] == "es" and "Espera un momento" in refused.text
    assert "Demasiadas suscripciones desde tu dirección en el último minuto" in refused.text
    assert "vuelve a intentarlo dentro de 30 segundos" in refused.text
    assert "Vuelve a intentarlo dentro de 30 segundos; hasta entonces no tienes que hacer nada." in refused.text


async def test_a_link_newsbot_signed_speaks_its_readers_language_even_once_expired(site, smtp_sink: SmtpSink) -> None:
    newsroom, _, client = site
    reader = await add_reader(newsroom, "local", email="leser@example.org")
    async with newsroom.engine.begin() as conn:
        await reader_languages.set_language(conn, reader, "de")
    month_ago = LinkSigner(newsroom.secret.value, newsroom.settings.public_url, clock=lambda: time.time() - 30 * 86400)
    expired = await client.get(path_of(month_ago.confirm_url(reader, address="leser@example.org")), headers=SPANISH)
    assert expired.status_code == 400 and expired.headers["content-language"] == "de"
    assert "Dieser Link funktioniert nicht" in expired.text
    assert "Dieser Link ist abgelaufen. Es wurde nichts geändert." in expired.text
