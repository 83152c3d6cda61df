"""The desk's Readers over HTTP: counts by topic and channel, the weekly chart, search, one reader's record, and
for admins erase (everything gone, as `subscribers remove` does), JSON export, CSV import (every row checked,
nothing imported if one is bad) and CSV export; an editor is refused those with a 403."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select

from bot.app.newsroom import Newsroom
from subscribers import email_readers, readers
from subscribers.audit import list_audit_entries
from subscribers.preferences import build_subscriber
from subscribers.schema import Cadence, ChannelName, addresses, deliveries, follows, subscribers
from tests.desk_sessions import ADMIN_EMAIL, csrf_of, desk_client
from tests.fakes.clock import ManualClock
from tests.newsroom_fixtures import SAMPLE_STORY, add_reader

SAMPLE = SAMPLE_STORY.read_text(encoding="utf-8")
INSTANT = {ChannelName.EMAIL: Cadence.INSTANT}


async def _rows(newsroom: Newsroom, table: object, subscriber_id: int | None = None) -> int:
    query = select(func.count()).select_from(table)  # type: ignore[arg-type]
    if subscriber_id is not None:
        query = query.where(table.c.subscriber_id == subscriber_id)  # type: ignore[attr-defined]
    async with newsroom.reader.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def _import(client: httpx.AsyncClient, text: str, name: str = "readers.csv") -> httpx.Response:
    token = csrf_of((await client.get("/desk/readers/import")).text)
    return await client.post(
        "/desk/readers/import", data={"csrf_token": token}, files={"file": (name, text.encode(), "text/csv")}
    )


async def test_an_editor_sees_counts_by_topic_and_channel(newsroom: Newsroom) -> None:
    await add_reader(newsroom, "north-korea", "world", telegram_chat="1001", email="ana@example.org")
    await add_reader(newsroom, "north-korea", email="ben@example.org", confirmed=False)
    async with desk_client(newsroom) as client:
        page = await client.get("/desk/readers")
    assert page.status_code == 200
    assert "<h2>2 readers</h2>" in page.text
    assert '<a href="/desk/readers" aria-current="page">Readers</a>' in page.text
    # North Korea: 2 followers, reached by 1 chat and 1 confirmed address (the pending one receives nothing yet).
    assert "<tr><td>North Korea</td><td>2</td><td>1</td><td>1</td></tr>" in page.text
    assert '<tr><th scope="row">email</th><td>1</td><td>1</td><td>0</td><td>0</td></tr>' in page.text
    assert "Import a CSV" not in page.text  # an editor has no import or export


async def test_the_chart_counts_signups_and_readers_gone_per_week(newsroom: Newsroom) -> None:
    newsroom.clock = clock = ManualClock()
    two_weeks_ago = clock.now() - timedelta(weeks=2)
    async with newsroom.engine.begin() as conn:
        subscriber = build_subscriber(
            newsroom.taxonomy, telegram_chat=None, email="cal@example.org", topics=["local"], confirmed=True
        )
        await readers.add_subscribers(conn, [subscriber], two_weeks_ago)
        found = await readers.find_subscriber_ids(conn, [("email", "cal@example.org")])
        await email_readers.unsubscribe_email(conn, found[("email", "cal@example.org")], clock.now())
    day = two_weeks_ago.astimezone(ZoneInfo(newsroom.settings.digest_timezone)).date()
    monday = day - timedelta(days=day.weekday())
    this_monday = monday + timedelta(weeks=2)
    async with desk_client(newsroom) as client:
        page = await client.get("/desk/readers")
    assert '<svg class="chart" role="img"' in page.text and "<script" not in page.text
    assert f"<tr><td>{monday.isoformat()}</td><td>1</td><td>0</td></tr>" in page.text
    assert f"<tr><td>{this_monday.isoformat()}</td><td>0</td><td>1</td></tr>" in page.text
    assert f"Week of {monday:%d %b}: 1 signups, 0 gone" in page.text
    assert isinstance(monday, date)


async def test_search_by_part_of_an_address_in_any_case_or_by_chat_id(newsroom: Newsroom) -> None:
    ana = await add_reader(newsroom, "world", email="Ana.Lopez@Example.org")
    chat = await add_reader(newsroom, "world", telegram_chat="-100123")
    async with desk_client(newsroom) as client:
        by_email = await client.get("/desk/readers", params={"q": "ana.lopez@EXAMPLE"})
        by_chat = await client.get("/desk/readers", params={"q": "-100123"})
        wildcard = await client.get("/desk/readers", params={"q": "%"})
        record = await client.get(f"/desk/readers/{ana}")
    assert f'href="/desk/readers/{ana}"' in by_email.text and "Ana.Lopez@example.org" in by_email.text
    assert f'href="/desk/readers/{chat}"' in by_chat.text and f'href="/desk/readers/{ana}"' not in by_chat.text
    assert "No reader has that address" in wildcard.text
    # An editor sees the record, not the erase or the export.
    assert record.status_code == 200 and "Ana.Lopez@example.org" in record.text and "world" in record.text
    assert "/erase" not in record.text and "export.json" not in record.text


async def test_an_admin_erases_a_reader_and_everything_of_theirs_goes(newsroom: Newsroom) -> None:
    gone = await add_reader(newsroom, "north-korea", telegram_chat="1001", email="ana@example.org", cadences=INSTANT)
    kept = await add_reader(newsroom, "north-korea", telegram_chat="1002")
    async with desk_client(newsroom, role="admin") as client:
        token = csrf_of((await client.get("/desk")).text)
        sent = await client.post("/desk/send", data={"csrf_token": token, "body": SAMPLE})
        assert sent.status_code == 303
        assert await _rows(newsroom, deliveries, gone) == 2
        page = await client.get(f"/desk/readers/{gone}")
        assert "Erase reader #" in page.text and "story:" in page.text
        forged = await client.post(f"/desk/readers/{gone}/erase", data={"csrf_token": "forged"})
        assert forged.status_code == 403 and await _rows(newsroom, addresses, gone) == 2
        erased = await client.post(f"/desk/readers/{gone}/erase", data={"csrf_token": token})
        after = await client.get(erased.headers["location"])
        again = await client.post(f"/desk/readers/{gone}/erase", data={"csrf_token": token})
    assert erased.status_code == 303 and "The reader is erased" in after.text
    assert again.status_code == 404
    for table in (addresses, follows, deliveries):
        assert await _rows(newsroom, table, gone) == 0, table
    assert await _rows(newsroom, addresses, kept) == 1 and await _rows(newsroom, deliveries, kept) == 1
    async with newsroom.reader.connect() as conn:
        entry = (await list_audit_entries(conn))[0]
    assert (entry.actor, entry.action, entry.details) == (f"desk:{ADMIN_EMAIL}", "reader erased", f"subscriber {gone}")
    assert "ana@example.org" not in repr(entry)


async def test_an_admin_exports_one_readers_record_as_json(newsroom: Newsroom) -> None:
    reader = await add_reader(newsroom, "north-korea", telegram_chat="1001", email="ana@example.org", cadences=INSTANT)
    async with desk_client(newsroom, role="admin") as client:
        token = csrf_of((await client.get("/desk")).text)
        await client.post("/desk/send", data={"csrf_token": token, "body": SAMPLE})
        export = await client.get(f"/desk/readers/{reader}/export.json")
        missing = await client.get("/desk/readers/999999/export.json")
    assert export.status_code == 200 and export.headers["content-type"] == "application/json"
    assert export.headers["content-disposition"] == f'attachment; filename="reader-{reader}.json"'
    document = json.loads(export.text)
    assert document["subscriber_id"] == reader
    assert {a["address"] for a in document["addresses"]} == {"1001", "ana@example.org"}
    assert [f["topic"] for f in document["follows"]] == ["north-korea"]
    assert {d["channel"] for d in document["deliveries"]} == {"telegram", "email"}
    assert all("confirmation_nonce" not in a for a in document["addresses"])
    assert missing.status_code == 404
    async with newsroom.reader.connect() as conn:
        entry = (await list_audit_entries(conn))[0]
    assert (entry.actor, entry.action) == (f"desk:{ADMIN_EMAIL}", "reader exported")


async def test_a_csv_with_bad_rows_names_each_by_line_and_imports_nothing(newsroom: Newsroom) -> None:
    text = "telegram_chat,email,topics\n2001,,north-korea\n2002,,no-such-topic\n,not-an-address,world\n2001,,world\n"
    async with desk_client(newsroom, role="admin") as client:
        bad = await _import(client, text)
        header = await _import(client, "name,topics\nana,world\n")
        binary = await _import(client, "\x00\x01\x02", name="photo.png")
        empty = await _import(client, "")
    assert bad.status_code == 422
    assert "3 of 4 rows are invalid; nothing was imported" in bad.text
    assert "line 3:" in bad.text and "line 4:" in bad.text and "line 5: 2001 already appears on line 2" in bad.text
    assert "line 2:" not in bad.text
    assert header.status_code == 422 and "line 1: the header must name" in header.text
    assert binary.status_code == 422 and "photo.png is a binary file" in binary.text
    assert empty.status_code == 422 and "file:" in empty.text
    assert await _rows(newsroom, subscribers) == 0


async def test_a_good_csv_is_imported_with_its_counts_and_audited(newsroom: Newsroom) -> None:
    await add_reader(newsroom, "world", email="ana@example.org")
    text = "email,topics,confirmed\nANA@example.org,local,yes\nben@example.org,north-korea;world,no\n"
    async with desk_client(newsroom, role="admin") as client:
        done = await _import(client, text)
    assert done.status_code == 200
    counted = "Imported 2 of 2 rows from readers.csv: 1 new readers, 1 existing ones updated, 0 addresses added."
    assert counted in done.text
    assert await _rows(newsroom, subscribers) == 2 and await _rows(newsroom, follows) == 4
    async with newsroom.reader.connect() as conn:
        entry = (await list_audit_entries(conn))[0]
    assert (entry.actor, entry.action, entry.recipients) == (f"desk:{ADMIN_EMAIL}", "readers imported", 2)


async def test_the_csv_export_imports_back_and_leaves_stopped_addresses_out(newsroom: Newsroom) -> None:
    await add_reader(newsroom, "north-korea", "world", telegram_chat="1001", email="ana@example.org")
    await add_reader(newsroom, "local", email="ben@example.org", confirmed=False)
    left = await add_reader(newsroom, "local", email="cal@example.org")
    async with newsroom.engine.begin() as conn:
        await email_readers.unsubscribe_email(conn, left, newsroom.clock.now())
    async with desk_client(newsroom, role="admin") as client:
        export = await client.get("/desk/readers/export.csv")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert export.headers["content-disposition"].startswith('attachment; filename="readers-')
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert rows == [
        {
            "telegram_chat": "1001",
            "email": "ana@example.org",
            "topics": "north-korea;world",
            "confirmed": "yes",
            "telegram_cadence": "instant",
            "email_cadence": "weekly",
        },
        {
            "telegram_chat": "",
            "email": "ben@example.org",
            "topics": "local",
            "confirmed": "no",
            "telegram_cadence": "",
            "email_cadence": "weekly",
        },
    ]
    async with newsroom.reader.connect() as conn:
        assert (await list_audit_entries(conn))[0].action == "readers exported"


async def test_an_address_a_spreadsheet_would_run_as_a_formula_is_exported_inert_and_imports_back(
    newsroom: Newsroom,
) -> None:
    formula, quoted = "=cmd|'/c-calc'!a0@example.org", "'plus+tag@example.org"
    await add_reader(newsroom, "local", telegram_chat="-1001234", email=formula)
    await add_reader(newsroom, "local", email=quoted)
    async with desk_client(newsroom, role="admin") as client:
        export = await client.get("/desk/readers/export.csv")
        rows = list(csv.DictReader(io.StringIO(export.text)))
        # The chat id stays a number; each address is one leading "'" away from what a spreadsheet would run.
        assert [(row["telegram_chat"], row["email"]) for row in rows] == [
            ("-1001234", "'" + formula),
            ("", "'" + quoted),
        ]
        done = await _import(client, export.text)
    assert "1 new readers" not in done.text and "0 new readers, 2 existing ones updated" in done.text
    async with newsroom.reader.connect() as conn:
        stored = await conn.execute(select(addresses.c.address).where(addresses.c.channel == ChannelName.EMAIL.value))
        assert sorted(stored.scalars()) == sorted([formula, quoted])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/desk/readers/import"),
        ("POST", "/desk/readers/import"),
        ("GET", "/desk/readers/export.csv"),
        ("GET", "/desk/readers/{id}/export.json"),
        ("POST", "/desk/readers/{id}/erase"),
    ],
)
async def test_an_editor_is_refused_erase_import_and_export(newsroom: Newsroom, method: str, path: str) -> None:
    reader = await add_reader(newsroom, "world", email="ana@example.org")
    async with desk_client(newsroom) as client:
        token = csrf_of((await client.get("/desk/readers")).text)
        answer = await client.request(
            method, path.format(id=reader), data={"csrf_token": token} if method == "POST" else None
        )
    assert answer.status_code == 403 and "This page is for admins" in answer.text
    assert await _rows(newsroom, addresses, reader) == 1


async def test_signed_out_visitors_are_sent_to_sign_in(newsroom: Newsroom) -> None:
    async with desk_client(newsroom) as client:
        client.cookies.clear()
        answer = await client.get("/desk/readers")
    assert answer.status_code == 303 and answer.headers["location"] == "/desk/login"
