"""A reader's time zone and quiet hours in Telegram's /settings: likely zones as buttons, a typed zone, quiet
hours and the breaking-news choice. Against the fake Bot API over HTTP."""

from __future__ import annotations

from subscribers import reader_languages, reader_time
from subscribers.reader_time import ReaderTime
from tests.telegram_session import ChatSession, buttons, chat, labels

__all__ = ["chat"]  # the fixture

READER = 9101


async def stored_time(session: ChatSession, chat_id: int) -> ReaderTime:
    async with session.newsroom.engine.connect() as conn:
        found = await reader_languages.chat_language(conn, str(chat_id))
        assert found is not None
        return await reader_time.reader_time(conn, found[0])


async def test_settings_opens_the_time_panel_with_likely_zones_and_buttons_store_the_choice(
    chat: ChatSession,
) -> None:
    await chat.say(READER, "/start", language_code="de")
    await chat.say(READER, "/follow local", language_code="de")
    reply = await chat.say(READER, "/settings", language_code="de")
    assert buttons(reply)[-1] == [("🕒 Zeitzone und Ruhezeit", "tm")]

    await chat.press(READER, reply["message_id"], "tm")
    panel = chat.api.messages[(READER, reply["message_id"])]
    assert "Zeitzone: UTC" in panel["text"] and "Ruhezeit: keine." in panel["text"]
    zones = [data for row in buttons(panel) for _, data in row if data.startswith("tz:")]
    assert zones == ["tz:UTC", "tz:Europe/Berlin", "tz:Europe/Vienna", "tz:Europe/Zurich"]  # the outlet's, then de

    spans = [data for row in buttons(panel) for _, data in row if data.startswith("qh:")]
    assert spans == ["qh:2100-0700", "qh:2200-0700", "qh:2300-0600", "qh:2200-0800", "qh:off"]
    assert "✅ Keine Ruhezeit" in labels(panel)

    await chat.press(READER, reply["message_id"], "tz:Europe/Berlin")
    await chat.press(READER, reply["message_id"], "qh:2300-0600")
    panel = chat.api.messages[(READER, reply["message_id"])]
    assert "✅ Europe/Berlin" in labels(panel) and "✅ Eilmeldungen klingeln" in labels(panel)
    assert "✅ 🌙 23:00–06:00" in labels(panel) and "Keine Ruhezeit" in labels(panel)
    assert "Ruhezeit: 23:00–06:00 Uhr" in panel["text"]
    assert await stored_time(chat, READER) == ReaderTime("Europe/Berlin", 23 * 60, 6 * 60, False)
    await chat.press(READER, reply["message_id"], "qh:on")  # a panel drawn before the choice of spans
    assert await stored_time(chat, READER) == ReaderTime("Europe/Berlin", 22 * 60, 7 * 60, False)
    refused = await chat.press(READER, reply["message_id"], "qh:2400-0700")  # no button sends this
    assert "steht nicht zur Auswahl" in refused["text"]
    assert await stored_time(chat, READER) == ReaderTime("Europe/Berlin", 22 * 60, 7 * 60, False)

    await chat.press(READER, reply["message_id"], "qb:wait")
    assert (await stored_time(chat, READER)).quiet_holds_breaking is True
    await chat.press(READER, reply["message_id"], "qh:off")
    assert await stored_time(chat, READER) == ReaderTime("Europe/Berlin", None, None, True)


async def test_a_typed_zone_is_stored_and_an_unknown_one_gets_a_polite_reply(chat: ChatSession) -> None:
    await chat.say(READER, "/start", language_code="en")
    done = await chat.say(READER, "/settings Asia/Tokyo")
    assert "Done: your time zone is now Asia/Tokyo." in done["text"]
    assert "✅ Asia/Tokyo" in labels(done)
    assert (await stored_time(chat, READER)).timezone == "Asia/Tokyo"

    unknown = await chat.say(READER, "/settings Mars/Olympus_Mons")
    assert "I don't know the time zone Mars/Olympus_Mons." in unknown["text"]
    spanish = await chat.say(READER + 1, "/settings ../etc/passwd", language_code="es")
    assert "No conozco la zona horaria ../etc/passwd." in spanish["text"]
    assert (await stored_time(chat, READER)).timezone == "Asia/Tokyo", "nothing changed"


async def test_settings_says_when_the_digest_comes_on_the_readers_own_clock(chat: ChatSession) -> None:
    await chat.say(READER, "/start", language_code="en")
    await chat.say(READER, "/follow local")
    assert "Mondays at 07:00 (UTC)" in (await chat.say(READER, "/settings"))["text"]
    await chat.say(READER, "/settings America/New_York")
    assert "Mondays at 07:00 (America/New_York)" in (await chat.say(READER, "/settings"))["text"]


async def test_typed_quiet_hours_are_stored_and_bad_ones_get_an_example(chat: ChatSession) -> None:
    await chat.say(READER, "/start", language_code="de")
    saved = await chat.say(READER, "/settings quiet 23:00-06:30", language_code="de")
    assert "Erledigt: Ihre Ruhezeit ist gespeichert." in saved["text"] and "23:00–06:30" in saved["text"]
    assert await stored_time(chat, READER) == ReaderTime(None, 23 * 60, 6 * 60 + 30, False)
    refused = await chat.say(READER, "/settings quiet late", language_code="de")
    assert "zwei Uhrzeiten, z. B. /settings quiet 23:00-06:30" in refused["text"]
    assert (await stored_time(chat, READER)).quiet_from == 23 * 60, "nothing changed"
