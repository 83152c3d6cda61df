"""The desk's Editors page over HTTP, for admins: the accounts, adding one (each bad field a 422 naming it), changing
a role, linking and unlinking a Telegram id, ending an account's sessions, mailing it a sign-in link and removing it
(asked first); each audited as the admin. The only admin can be neither demoted nor removed; an editor gets a 403
and no Editors link; a form without the session's CSRF token changes nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx

from bot.app.config import Settings
from bot.app.newsroom import Newsroom
from bot.channels.smtp import SmtpChannel
from bot.editors.desk_accounts import LastAdmin, change_role, list_editors, remove_editor_account, use_login_link
from bot.web import create_app
from bot.web.desk_auth import COOKIE, new_session_cookie
from subscribers.audit import list_audit_entries
from subscribers.editor_accounts import EditorAccount
from tests.desk_sessions import ADMIN_EMAIL, EDITOR_EMAIL, add_editor, csrf_of, desk_client
from tests.email_readers import parse_mail
from tests.fakes import SmtpSink

ACTOR = f"desk:{ADMIN_EMAIL}"


async def _account(newsroom: Newsroom, email: str) -> EditorAccount:
    (account,) = [a for a in await list_editors(newsroom) if a.email == email]
    return account


async def _audit(newsroom: Newsroom) -> list[tuple[str, str, str | None, str | None]]:
    async with newsroom.reader.connect() as conn:
        return [(e.actor, e.action, e.subject, e.details) for e in await list_audit_entries(conn)]


async def _post(
    client: httpx.AsyncClient, path: str, data: dict[str, str], page: str = "/desk/editors"
) -> httpx.Response:
    token = csrf_of((await client.get(page)).text)
    return await client.post(path, data={"csrf_token": token, **data})


async def test_an_admin_sees_every_account_and_the_editors_link(newsroom: Newsroom) -> None:
    await add_editor(newsroom, EDITOR_EMAIL)
    async with desk_client(newsroom, role="admin") as client:
        page = await client.get("/desk/editors")
    assert page.status_code == 200
    assert '<a href="/desk/editors" aria-current="page">Editors</a>' in page.text
    assert "2 desk accounts" in page.text
    assert f'>{ADMIN_EMAIL}</a> <small class="muted">(you)</small></td><td></td><td>admin</td>' in page.text
    assert f">{EDITOR_EMAIL}</a></td><td></td><td>editor</td>" in page.text


async def test_an_editor_is_refused_the_page_and_sees_no_link(newsroom: Newsroom) -> None:
    async with desk_client(newsroom) as client:
        home = await client.get("/desk/stories")
        refused = await client.get("/desk/editors")
        token = csrf_of(home.text)
        added = await client.post("/desk/editors", data={"csrf_token": token, "email": "x@example.org"})
    assert 'href="/desk/editors"' not in home.text
    assert refused.status_code == 403 and "for admins" in refused.text
    assert added.status_code == 403
    assert [a.email for a in await list_editors(newsroom)] == [EDITOR_EMAIL]


async def test_an_admin_adds_an_account_audited_as_themself(newsroom: Newsroom) -> None:
    async with desk_client(newsroom, role="admin") as client:
        form = {"email": "Cal.Dee@Example.org", "name": "Cal Dee", "role": "admin", "telegram_id": "424242"}
        answer = await _post(client, "/desk/editors", form)
        account = await _account(newsroom, "Cal.Dee@example.org")
        assert answer.status_code == 303 and answer.headers["location"] == f"/desk/editors/{account.id}?done=added"
        page = await client.get(answer.headers["location"])
    assert (account.name, account.role, account.telegram_id) == ("Cal Dee", "admin", 424242)
    assert page.status_code == 200 and "The account is added" in page.text and "linked to 424242" in page.text
    assert (ACTOR, "editor added", "Cal.Dee@example.org", "admin") in await _audit(newsroom)


async def test_bad_fields_are_refused_by_name_and_nothing_is_added(newsroom: Newsroom) -> None:
    await add_editor(newsroom, EDITOR_EMAIL)
    async with desk_client(newsroom, role="admin") as client:
        cases = {
            "email": {"email": "not-an-address", "role": "editor"},
            "role": {"email": "new@example.org", "role": "owner"},
            "telegram_id": {"email": "new@example.org", "role": "editor", "telegram_id": "12ab"},
        }
        for field, form in cases.items():
            answer = await _post(client, "/desk/editors", form)
            assert answer.status_code == 422, field
            assert f'id="{field}" name="{field}"' in answer.text
            assert f"<strong>{field.replace('_', ' ').capitalize()}:</strong>" in answer.text
            assert 'aria-invalid="true"' in answer.text
        typed_kept = await _post(
            client, "/desk/editors", {"email": "new@example.org", "name": "Nia", "role": "editor", "telegram_id": "-5"}
        )
        duplicate = await _post(client, "/desk/editors", {"email": EDITOR_EMAIL.upper(), "role": "editor"})
    assert (
        typed_kept.status_code == 422
        and 'value="Nia"' in typed_kept.text
        and "not a Telegram user id" in typed_kept.text
    )
    assert duplicate.status_code == 422 and "<strong>Email:</strong>" in duplicate.text
    assert "already has a desk account" in duplicate.text
    assert sorted(a.email for a in await list_editors(newsroom)) == [ADMIN_EMAIL, EDITOR_EMAIL]


async def test_a_telegram_id_linked_elsewhere_is_refused_by_name(newsroom: Newsroom) -> None:
    other = await add_editor(newsroom, EDITOR_EMAIL)
    async with desk_client(newsroom, role="admin") as client:
        page = f"/desk/editors/{other.id}"
        first = await _post(client, f"{page}/telegram", {"telegram_id": "777"}, page)
        again = await _post(
            client, "/desk/editors", {"email": "new@example.org", "role": "editor", "telegram_id": "777"}
        )
    assert first.status_code == 303
    assert again.status_code == 422 and "<strong>Telegram id:</strong>" in again.text
    assert "already linked to another desk account" in again.text


async def test_an_admin_changes_a_role_and_the_account_gets_it_at_once(newsroom: Newsroom) -> None:
    editor = await add_editor(newsroom, EDITOR_EMAIL)
    async with desk_client(newsroom, role="admin") as client:
        page = f"/desk/editors/{editor.id}"
        promoted = await _post(client, f"{page}/role", {"role": "admin"}, page)
        assert promoted.status_code == 303 and promoted.headers["location"] == f"{page}?done=role"
        assert (await _account(newsroom, EDITOR_EMAIL)).role == "admin"
        bad = await _post(client, f"{page}/role", {"role": "chief"}, page)
        demoted = await _post(client, f"{page}/role", {"role": "editor"}, page)
    assert bad.status_code == 422 and "<strong>Role:</strong>" in bad.text
    assert demoted.status_code == 303 and (await _account(newsroom, EDITOR_EMAIL)).role == "editor"
    audit = await _audit(newsroom)
    assert (ACTOR, "editor role changed", EDITOR_EMAIL, "admin") in audit
    assert (ACTOR, "editor role changed", EDITOR_EMAIL, "editor") in audit


async def test_the_only_admin_can_neither_demote_nor_remove_themself(newsroom: Newsroom) -> None:
    async with desk_client(newsroom, role="admin") as client:
        me = await _account(newsroom, ADMIN_EMAIL)
        page = f"/desk/editors/{me.id}"
        demoted = await _post(client, f"{page}/role", {"role": "editor"}, page)
        confirm = await client.get(f"{page}/remove")
        removed = await _post(client, f"{page}/remove", {}, page)
        still_in = await client.get("/desk/editors")
    for answer in (demoted, removed):
        assert answer.status_code == 409
        assert f"Sorry, {ADMIN_EMAIL} is the only admin" in answer.text
        assert "make another account an admin first" in answer.text
    assert confirm.status_code == 200 and "This is your own account" in confirm.text
    assert still_in.status_code == 200
    assert (await _account(newsroom, ADMIN_EMAIL)).role == "admin"
    assert not [entry for entry in await _audit(newsroom) if entry[1] in ("editor removed", "editor role changed")]


async def test_with_a_second_admin_an_admin_may_step_down(newsroom: Newsroom) -> None:
    await add_editor(newsroom, "second@example.org", role="admin")
    async with desk_client(newsroom, role="admin") as client:
        me = await _account(newsroom, ADMIN_EMAIL)
        page = f"/desk/editors/{me.id}"
        demoted = await _post(client, f"{page}/role", {"role": "editor"}, page)
        after = await client.get("/desk/editors")
    assert demoted.status_code == 303
    assert after.status_code == 403  # the role counts at once: no longer an admin page for them


async def test_an_admin_links_and_unlinks_a_telegram_id(newsroom: Newsroom) -> None:
    editor = await add_editor(newsroom, EDITOR_EMAIL)
    async with desk_client(newsroom, role="admin") as client:
        page = f"/desk/editors/{editor.id}"
        bad = await _post(client, f"{page}/telegram", {"telegram_id": "0"}, page)
        empty = await _post(client, f"{page}/telegram", {"telegram_id": " "}, page)
        linked = await _post(client, f"{page}/telegram", {"telegram_id": " 123456789 "}, page)
        assert (await _account(newsroom, EDITOR_EMAIL)).telegram_id == 123456789
        shown = await client.get(linked.headers["location"])
        unlinked = await _post(client, f"{page}/telegram", {"unlink": "1", "telegram_id": "123456789"}, page)
    assert bad.status_code == 422 and empty.status_code == 422 and "<strong>Telegram id:</strong>" in bad.text
    assert linked.status_code == 303 and "The Telegram id is linked" in shown.text and "Unlink" in shown.text
    assert unlinked.status_code == 303 and unlinked.headers["location"] == f"{page}?done=unlinked"
    assert (await _account(newsroom, EDITOR_EMAIL)).telegram_id is None
    audit = await _audit(newsroom)
    assert (ACTOR, "editor Telegram linked", EDITOR_EMAIL, "123456789") in audit
    assert (ACTOR, "editor Telegram unlinked", EDITOR_EMAIL, None) in audit


async def test_an_admin_ends_all_sessions_of_an_account(newsroom: Newsroom) -> None:
    editor = await add_editor(newsroom, EDITOR_EMAIL)
    app = create_app(newsroom)
    async with (
        desk_client(newsroom, role="admin") as admin,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://news.example.org") as theirs,
    ):
        theirs.cookies.set(COOKIE, new_session_cookie(newsroom, editor), domain="news.example.org", path="/desk")
        assert (await theirs.get("/desk/stories")).status_code == 200
        page = f"/desk/editors/{editor.id}"
        ended = await _post(admin, f"{page}/sessions/end", {}, page)
        assert ended.status_code == 303 and ended.headers["location"] == f"{page}?done=ended"
        assert (await theirs.get("/desk/stories")).headers["location"] == "/desk/login"
        assert (await admin.get("/desk/editors")).status_code == 200  # the admin's own session goes on
    assert (ACTOR, "desk sessions ended", EDITOR_EMAIL, None) in await _audit(newsroom)


async def test_an_admin_removes_an_account_after_being_asked(newsroom: Newsroom) -> None:
    editor = await add_editor(newsroom, EDITOR_EMAIL)
    async with desk_client(newsroom, role="admin") as client:
        page = f"/desk/editors/{editor.id}"
        confirm = await client.get(f"{page}/remove")
        assert confirm.status_code == 200 and f"Remove {EDITOR_EMAIL}?" in confirm.text
        assert (await _account(newsroom, EDITOR_EMAIL)).id == editor.id  # asking removes nothing
        removed = await _post(client, f"{page}/remove", {}, f"{page}/remove")
        listed = await client.get(removed.headers["location"])
        gone = await client.get(page)
        twice = await _post(client, f"{page}/remove", {}, "/desk/editors")
    assert removed.status_code == 303 and "The account is removed" in listed.text
    assert EDITOR_EMAIL not in listed.text
    assert gone.status_code == 404 and "No such account" in gone.text
    assert twice.status_code == 404
    assert (ACTOR, "editor removed", EDITOR_EMAIL, None) in await _audit(newsroom)


async def test_forms_without_the_sessions_csrf_token_change_nothing(newsroom: Newsroom) -> None:
    editor = await add_editor(newsroom, EDITOR_EMAIL)
    page = f"/desk/editors/{editor.id}"
    posts = {
        "/desk/editors": {"email": "new@example.org", "role": "editor"},
        f"{page}/role": {"role": "admin"},
        f"{page}/telegram": {"telegram_id": "55"},
        f"{page}/sessions/end": {},
        f"{page}/login-link": {},
        f"{page}/remove": {},
    }
    async with desk_client(newsroom, role="admin") as client:
        for path, data in posts.items():
            for token in ({}, {"csrf_token": "forged"}):
                answer = await client.post(path, data={**data, **token})
                assert answer.status_code == 403 and "Nothing was changed" in answer.text, path
    assert await _account(newsroom, EDITOR_EMAIL) == editor
    assert len(await list_editors(newsroom)) == 2
    assert await _audit(newsroom) == []


@contextlib.asynccontextmanager
async def _mailing_desk(settings: Settings, sink: SmtpSink) -> AsyncIterator[tuple[Newsroom, httpx.AsyncClient]]:
    """The desk with its email channel on the SMTP sink, signed in as an admin."""
    room = await Newsroom.open(settings.model_copy(update={"smtp_url": sink.url}))
    channel = SmtpChannel(sink.url, settings.mail_from)
    admin = await add_editor(room, ADMIN_EMAIL, role="admin")
    transport = httpx.ASGITransport(app=create_app(room, email_channel=channel))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="https://news.example.org") as client:
            client.cookies.set(COOKIE, new_session_cookie(room, admin), domain="news.example.org", path="/desk")
            yield room, client
    finally:
        await channel.aclose()
        await room.close()


async def test_an_admin_mails_an_account_a_sign_in_link(settings: Settings, smtp_sink: SmtpSink) -> None:
    async with _mailing_desk(settings, smtp_sink) as (room, client):
        editor = await add_editor(room, EDITOR_EMAIL)
        page = f"/desk/editors/{editor.id}"
        sent = await _post(client, f"{page}/login-link", {}, page)
        assert sent.status_code == 303 and sent.headers["location"] == f"{page}?done=mailed"
        (mail,) = smtp_sink.messages
        assert mail.rcpt_tos == [EDITOR_EMAIL]
        text = parse_mail(mail.data).get_content()
        (url,) = [word for word in text.split() if "/desk/login/" in word]
        signed_in = await use_login_link(room, urlsplit(url).path.rsplit("/", 1)[-1])
        assert signed_in is not None and signed_in.id == editor.id

        smtp_sink.refuse_recipient(EDITOR_EMAIL)
        failed = await _post(client, f"{page}/login-link", {}, page)
        assert failed.status_code == 502 and "could not be mailed" in failed.text
        audit = await _audit(room)
    assert [entry for entry in audit if entry[1] == "desk sign-in link sent"] == [
        (ACTOR, "desk sign-in link sent", EDITOR_EMAIL, None)
    ]


async def test_two_admins_demoting_each_other_at_once_leave_one_admin(newsroom: Newsroom) -> None:
    ana = await add_editor(newsroom, "ana@example.org", role="admin")
    bo = await add_editor(newsroom, "bo@example.org", role="admin")

    outcomes = await asyncio.gather(
        change_role(newsroom, ana.id, "editor", actor="desk:bo@example.org"),
        remove_editor_account(newsroom, bo.id, actor="desk:ana@example.org"),
        return_exceptions=True,
    )

    assert sum(isinstance(outcome, LastAdmin) for outcome in outcomes) == 1, outcomes
    assert [a.role for a in await list_editors(newsroom)].count("admin") == 1
