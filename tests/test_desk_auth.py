"""The desk's sign-in: accounts, one-time links, signed sessions, CSRF, roles and "sign out everywhere", over HTTP
against the real app, with mail through the SMTP sink and time from a hand-moved clock."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import Depends

from bot.app.config import Settings
from bot.app.newsroom import Newsroom
from bot.channels.smtp import SmtpChannel
from bot.editors.desk_accounts import add_editor, login_link_for, remove_editor
from bot.web import create_app
from bot.web.desk_auth import COOKIE, EditorSession, current_admin, current_editor
from subscribers.audit import list_audit_entries
from tests.email_readers import parse_mail
from tests.fakes import SmtpSink
from tests.fakes.clock import ManualClock

BASE = "https://news.example.org"


@pytest.fixture
async def desk_site(settings: Settings, smtp_sink: SmtpSink) -> AsyncIterator[tuple[Newsroom, SmtpSink, ManualClock]]:
    room = await Newsroom.open(settings.model_copy(update={"smtp_url": smtp_sink.url}))
    room.clock = clock = ManualClock()
    channel = SmtpChannel(smtp_sink.url, settings.mail_from)
    room_app = create_app(room, email_channel=channel)

    @room_app.get("/desk/test-whoami")
    async def whoami(editor: EditorSession = Depends(current_editor)) -> dict[str, str]:
        return {"email": editor.email, "role": editor.role, "actor": editor.actor}

    @room_app.get("/desk/test-admin")
    async def admin_only(editor: EditorSession = Depends(current_admin)) -> dict[str, str]:
        return {"email": editor.email}

    room.test_app = room_app  # type: ignore[attr-defined]
    try:
        yield room, smtp_sink, clock
    finally:
        await channel.aclose()
        await room.close()


def browser(room: Newsroom) -> httpx.AsyncClient:
    """A fresh browser (its own cookie jar) on the app."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=room.test_app), base_url=BASE)  # type: ignore[attr-defined]


async def sign_in(client: httpx.AsyncClient, room: Newsroom, email: str) -> None:
    """Sign *client* in with a fresh link, as `newsbot editors login-link` prints it."""
    link = await login_link_for(room, email)
    response = await client.post(link.url.removeprefix(BASE))
    assert response.status_code == 303, response.text


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


async def test_a_mailed_link_signs_in_once_with_a_safe_cookie(desk_site) -> None:
    room, sink, _ = desk_site
    await add_editor(room, "Ana.Lee@Example.org", name="Ana Lee", role="admin")
    async with browser(room) as client:
        form = await client.get("/desk/login")
        assert form.status_code == 200 and 'name="email"' in form.text
        answer = await client.post("/desk/login", data={"email": "ana.lee@example.org"})
        assert answer.status_code == 200 and "sign-in link is on its way" in answer.text
        (mail,) = sink.messages
        assert mail.rcpt_tos == ["Ana.Lee@example.org"]
        message = parse_mail(mail.data)
        assert "List-Unsubscribe" not in message and "sign-in link" in message["Subject"]
        text = message.get_content()
        (url,) = [word for word in text.split() if word.startswith(f"{BASE}/desk/login/")]

        # Opening the link (as a mail scanner does, several times) shows a Sign in button and uses nothing up.
        for _ in range(2):
            opened = await client.get(url.removeprefix(BASE))
            assert opened.status_code == 200 and "Ana.Lee@example.org" in opened.text
            assert 'method="post"' in opened.text and "set-cookie" not in opened.headers
        landed = await client.post(url.removeprefix(BASE))
        assert landed.status_code == 303 and landed.headers["location"] == "/desk"
        cookie = landed.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        for attribute in ("HttpOnly", "SameSite=lax", "Secure", "Path=/desk"):
            assert attribute.lower() in cookie.lower(), cookie
        me = await client.get("/desk/test-whoami")
        assert me.json() == {"email": "Ana.Lee@example.org", "role": "admin", "actor": "desk:Ana.Lee@example.org"}

    async with browser(room) as other:
        again = await other.post(url.removeprefix(BASE))
        assert again.status_code == 400 and "no longer works" in again.text
        assert (await other.get(url.removeprefix(BASE))).status_code == 400
        assert (await other.get("/desk/test-whoami")).status_code == 303
    async with room.reader.connect() as conn:
        actions = [(e.actor, e.action) for e in await list_audit_entries(conn)]
    assert ("desk:Ana.Lee@example.org", "desk sign-in") in actions


async def test_an_unknown_address_gets_the_same_answer_and_no_mail(desk_site) -> None:
    room, sink, _ = desk_site
    await add_editor(room, "ana@example.org")
    async with browser(room) as client:
        known = await client.post("/desk/login", data={"email": "ana@example.org"})
        unknown = await client.post("/desk/login", data={"email": "someone@example.org"})
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace("ana@example.org", "X") == unknown.text.replace("someone@example.org", "X")
    assert [m.rcpt_tos for m in sink.messages] == [["ana@example.org"]]


async def test_a_malformed_address_is_refused_by_name(desk_site) -> None:
    room, sink, _ = desk_site
    async with browser(room) as client:
        answer = await client.post("/desk/login", data={"email": "not an address"})
    assert answer.status_code == 400 and "email address" in answer.text
    assert sink.messages == []


async def test_sign_in_requests_are_rate_limited(desk_site) -> None:
    room, _, _ = desk_site
    limit = room.settings.signup_limit_per_client
    async with browser(room) as client:
        for _ in range(limit):
            assert (await client.post("/desk/login", data={"email": "x@example.org"})).status_code == 200
        refused = await client.post("/desk/login", data={"email": "x@example.org"})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1


async def test_a_link_expires_after_15_minutes(desk_site) -> None:
    room, _, clock = desk_site
    await add_editor(room, "ana@example.org")
    link = await login_link_for(room, "ana@example.org")
    clock.advance(minutes=15, seconds=1)
    async with browser(room) as client:
        assert (await client.get(link.url.removeprefix(BASE))).status_code == 400


async def test_sessions_end_when_idle_and_after_seven_days(desk_site) -> None:
    room, _, clock = desk_site
    await add_editor(room, "ana@example.org")
    async with browser(room) as client:
        await sign_in(client, room, "ana@example.org")
        clock.advance(hours=11)
        assert (await client.get("/desk/test-whoami")).status_code == 200  # re-issues the cookie: still active
        clock.advance(hours=11)
        assert (await client.get("/desk/test-whoami")).status_code == 200
        clock.advance(hours=12, seconds=1)
        idle = await client.get("/desk/test-whoami")
        assert idle.status_code == 303 and idle.headers["location"] == "/desk/login"

    async with browser(room) as client:
        await sign_in(client, room, "ana@example.org")
        for _ in range(16):  # busy every 11 hours for over a week
            clock.advance(hours=11)
            if (await client.get("/desk/test-whoami")).status_code != 200:
                break
        assert (await client.get("/desk/test-whoami")).status_code == 303


async def test_a_forged_or_tampered_cookie_signs_nobody_in(desk_site) -> None:
    room, _, _ = desk_site
    await add_editor(room, "ana@example.org", role="admin")
    async with browser(room) as client:
        await sign_in(client, room, "ana@example.org")
        value = client.cookies[COOKIE]
        client.cookies.clear()
        client.cookies.set(COOKIE, value[:-2] + ("AA" if not value.endswith("AA") else "BB"), domain="news.example.org")
        assert (await client.get("/desk/test-whoami")).status_code == 303
    async with browser(room) as stranger:
        stranger.cookies.set(COOKIE, "eyJhIjoxfQ.forged", domain="news.example.org")
        assert (await stranger.get("/desk/test-whoami")).status_code == 303


async def test_posts_need_the_sessions_csrf_token(desk_site) -> None:
    room, _, _ = desk_site
    await add_editor(room, "ana@example.org")
    async with browser(room) as client:
        await sign_in(client, room, "ana@example.org")
        page = await client.get("/desk/logout")
        token = csrf_of(page.text)
        assert (await client.post("/desk/logout", data={})).status_code == 403
        refused = await client.post("/desk/logout", data={"csrf_token": "0" * 64})
        assert refused.status_code == 403 and "csrf_token" in refused.text
        assert (await client.get("/desk/test-whoami")).status_code == 200  # nothing changed
        out = await client.post("/desk/logout", data={"csrf_token": token})
        assert out.status_code == 303 and out.headers["location"] == "/desk/login"
        assert (await client.get("/desk/test-whoami")).status_code == 303
    async with browser(room) as other:
        await sign_in(other, room, "ana@example.org")
        assert csrf_of((await other.get("/desk/logout")).text) != token  # one token per session


async def test_an_editor_is_refused_an_admin_page(desk_site) -> None:
    room, _, _ = desk_site
    await add_editor(room, "ed@example.org", role="editor")
    await add_editor(room, "boss@example.org", role="admin")
    async with browser(room) as editor:
        await sign_in(editor, room, "ed@example.org")
        refused = await editor.get("/desk/test-admin")
        assert refused.status_code == 403 and "for admins" in refused.text
    async with browser(room) as admin:
        await sign_in(admin, room, "boss@example.org")
        assert (await admin.get("/desk/test-admin")).status_code == 200


async def test_sign_out_everywhere_ends_every_session_and_unused_link(desk_site) -> None:
    room, _, _ = desk_site
    await add_editor(room, "ana@example.org")
    spare = await login_link_for(room, "ana@example.org")
    async with browser(room) as laptop, browser(room) as phone:
        await sign_in(laptop, room, "ana@example.org")
        await sign_in(phone, room, "ana@example.org")
        token = csrf_of((await laptop.get("/desk/logout")).text)
        ended = await laptop.post("/desk/sessions/end", data={"csrf_token": token})
        assert ended.status_code == 303
        assert (await laptop.get("/desk/test-whoami")).status_code == 303
        assert (await phone.get("/desk/test-whoami")).status_code == 303
        assert (await phone.get(spare.url.removeprefix(BASE))).status_code == 400
    async with browser(room) as again:  # a new sign-in works at once
        await sign_in(again, room, "ana@example.org")
        assert (await again.get("/desk/test-whoami")).status_code == 200


async def test_removing_an_account_ends_its_sessions(desk_site) -> None:
    room, _, _ = desk_site
    await add_editor(room, "ana@example.org")
    async with browser(room) as client:
        await sign_in(client, room, "ana@example.org")
        await remove_editor(room, "ana@example.org")
        assert (await client.get("/desk/test-whoami")).status_code == 303
