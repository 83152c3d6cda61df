"""The desk's Editors page, for admins: the desk accounts, adding one, and per account its role, its Telegram
link, "end all sessions", a mailed sign-in link and removal (asked first).

Every change goes through :mod:`bot.editors.desk_accounts`, the functions ``newsbot editors`` uses, and is audited
as the signed-in admin. The only admin can be neither made an editor nor removed: the desk would have nobody left
who can manage accounts. A bad field is a 422 page naming it, with what was typed kept in the form.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from bot.app.errors import NewsbotError
from bot.app.newsroom import Newsroom
from bot.channels import Channel
from bot.editors.desk_accounts import (
    AccountNotFound,
    LastAdmin,
    add_editor,
    change_role,
    editor_by_id,
    end_all_sessions,
    link_telegram,
    list_editors,
    remove_editor_account,
    send_login_link,
)
from bot.web.app_state import email_channel_of, newsroom_of
from bot.web.desk_auth import DeskPost, EditorSession, admin_post, clear_session_cookie, current_admin
from bot.web.desk_drafts import schedule_zone, when_text
from bot.web.desk_rendering import desk_page
from subscribers.editor_accounts import ROLES, AccountExists, EditorAccount
from subscribers.preferences import normalise_email

router = APIRouter()
SECTION = "/desk/editors"
#: Telegram user ids are positive and, so far, well under 2**52; anything longer is a typing slip.
MAX_TELEGRAM_ID = 2**53
DONE = {
    "added": "The account is added. Send it a sign-in link, or its owner asks for one at /desk/login.",
    "removed": "The account is removed: its sessions and sign-in links no longer work.",
    "role": "The role is changed; it counts from the account's next page.",
    "linked": "The Telegram id is linked: /desk in the bot sends this editor a sign-in link.",
    "unlinked": "The Telegram id is unlinked.",
    "ended": "Every session of this account is ended, and its unused sign-in links with them.",
    "mailed": "A sign-in link is on its way to the account's address. It works once, for 15 minutes.",
}


class FieldProblem(NewsbotError):
    """A form field the desk cannot use; *field* is its name, so the page can point at it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse_telegram_id(text: str) -> int | None:
    """A Telegram user id typed in a form (blank: none); FieldProblem when it is not one."""
    text = text.strip()
    if not text:
        return None
    if not text.isdecimal() or not 0 < int(text) < MAX_TELEGRAM_ID:
        raise FieldProblem(
            "telegram_id", f"{text[:40]!r} is not a Telegram user id: expected a whole number such as 123456789."
        )
    return int(text)


def parse_role(text: str) -> str:
    """A role chosen in a form, lower-cased; FieldProblem when it is neither of `ROLES`."""
    if text not in ROLES:
        raise FieldProblem("role", f"choose editor or admin, not {text[:16]!r}.")
    return text


def _field(form: FormData, name: str, limit: int = 400) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def _when(newsroom: Newsroom) -> Callable[[Any], str]:
    zone = schedule_zone(newsroom)
    return lambda moment: when_text(moment, zone) if moment else ""


# -- the list and the add form -----------------------------------------------------------------------------------


async def _list_page(
    newsroom: Newsroom,
    editor: EditorSession,
    *,
    form: dict[str, str] | None = None,
    problem: FieldProblem | None = None,
    done: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    context = {
        "accounts": await list_editors(newsroom),
        "roles": ROLES,
        "form": form or {"email": "", "name": "", "role": "editor", "telegram_id": ""},
        "error": str(problem) if problem else None,
        "error_field": problem.field if problem else None,
        "done": DONE.get(done or ""),
        "when": _when(newsroom),
    }
    return desk_page(newsroom, editor, "editors.html.j2", context, section=SECTION, status=status)


@router.get("/desk/editors", response_class=HTMLResponse)
async def editors_page(
    done: str = "", editor: EditorSession = Depends(current_admin), newsroom: Newsroom = Depends(newsroom_of)
) -> HTMLResponse:
    """Every desk account, and the form that adds one."""
    return await _list_page(newsroom, editor, done=done)


@router.post("/desk/editors", response_class=HTMLResponse)
async def add_account(post: DeskPost = Depends(admin_post)) -> Response:
    """Add an account as ``newsbot editors add`` does; the form again, naming the field, when one is wrong."""
    editor, form, newsroom = post.editor, post.form, post.newsroom
    typed = {
        "email": _field(form, "email", 320).strip(),
        "name": _field(form, "name", 200).strip(),
        "role": _field(form, "role", 16).strip().lower(),
        "telegram_id": _field(form, "telegram_id", 40).strip(),
    }
    try:
        if not typed["email"]:
            raise FieldProblem("email", "enter the editor's email address: sign-in links go there.")
        try:
            address = normalise_email(typed["email"])
        except NewsbotError as exc:
            raise FieldProblem("email", f"{exc}.") from None
        role = parse_role(typed["role"])
        telegram_id = parse_telegram_id(typed["telegram_id"])
        try:
            account = await add_editor(
                newsroom,
                address,
                name=typed["name"],
                role=role,
                telegram_id=telegram_id,
                actor=editor.actor,
            )
        except AccountExists as exc:
            raise FieldProblem("telegram_id" if "Telegram" in str(exc) else "email", f"{exc}.") from None
    except FieldProblem as problem:
        return await _list_page(newsroom, editor, form=typed, problem=problem, status=422)
    return RedirectResponse(f"/desk/editors/{account.id}?done=added", status_code=303)


# -- one account -------------------------------------------------------------------------------------------------


def _missing(newsroom: Newsroom, editor: EditorSession, account_id: int) -> HTMLResponse:
    context = {"account": None, "account_id": account_id}
    return desk_page(newsroom, editor, "editors_account.html.j2", context, section=SECTION, status=404)


async def _account_page(
    newsroom: Newsroom,
    editor: EditorSession,
    account_id: int,
    *,
    error: str | None = None,
    error_field: str | None = None,
    done: str = "",
    status: int = 200,
) -> HTMLResponse:
    try:
        account = await editor_by_id(newsroom, account_id)
    except AccountNotFound:
        return _missing(newsroom, editor, account_id)
    context = {
        "account": account,
        "roles": ROLES,
        "error": error,
        "error_field": error_field,
        "done": DONE.get(done),
        "yourself": account.id == editor.account_id,
        "when": _when(newsroom),
    }
    return desk_page(newsroom, editor, "editors_account.html.j2", context, section=SECTION, status=status)


async def _change(post: DeskPost, account_id: int, change: Callable[[], Awaitable[str]]) -> Response:
    """Run one change to an account: 303 to what it says was done, or the account's page with the refusal.

    A removed account has no page left, so its removal is said on the list; an admin who ended their own sessions
    or removed their own account is signed out and goes to the sign-in page.
    """
    newsroom, editor = post.newsroom, post.editor
    try:
        done = await change()
    except AccountNotFound:
        return _missing(newsroom, editor, account_id)
    except LastAdmin as exc:
        return await _account_page(newsroom, editor, account_id, error=f"Sorry, {exc}.", status=409)
    except FieldProblem as exc:
        return await _account_page(newsroom, editor, account_id, error=str(exc), error_field=exc.field, status=422)
    except AccountExists as exc:
        return await _account_page(newsroom, editor, account_id, error=f"{exc}.", error_field="telegram_id", status=422)
    if done in ("ended", "removed") and account_id == editor.account_id:
        response = RedirectResponse("/desk/login", status_code=303)
        clear_session_cookie(response, newsroom)
        return response
    if done == "removed":
        return RedirectResponse("/desk/editors?done=removed", status_code=303)
    return RedirectResponse(f"/desk/editors/{account_id}?done={done}", status_code=303)


@router.get("/desk/editors/{account_id:int}", response_class=HTMLResponse)
async def account_page(
    account_id: int,
    done: str = "",
    editor: EditorSession = Depends(current_admin),
    newsroom: Newsroom = Depends(newsroom_of),
) -> HTMLResponse:
    """One account and what an admin can do with it."""
    return await _account_page(newsroom, editor, account_id, done=done)


@router.post("/desk/editors/{account_id:int}/role")
async def set_role(account_id: int, post: DeskPost = Depends(admin_post)) -> Response:
    """Give the account the role chosen (never take the only admin's away)."""

    async def change() -> str:
        role = parse_role(_field(post.form, "role", 16).strip().lower())
        await change_role(post.newsroom, account_id, role, actor=post.editor.actor)
        return "role"

    return await _change(post, account_id, change)


@router.post("/desk/editors/{account_id:int}/telegram")
async def set_telegram(account_id: int, post: DeskPost = Depends(admin_post)) -> Response:
    """Link the Telegram id typed (or the one posted as ``unlink``: none)."""

    async def change() -> str:
        unlink = "unlink" in post.form
        telegram_id = None if unlink else parse_telegram_id(_field(post.form, "telegram_id", 40))
        if telegram_id is None and not unlink:
            raise FieldProblem("telegram_id", "enter the editor's Telegram user id, e.g. 123456789, or unlink it.")
        await link_telegram(post.newsroom, account_id, telegram_id, actor=post.editor.actor)
        return "linked" if telegram_id is not None else "unlinked"

    return await _change(post, account_id, change)


@router.post("/desk/editors/{account_id:int}/sessions/end")
async def end_sessions(account_id: int, post: DeskPost = Depends(admin_post)) -> Response:
    """Sign the account out everywhere; ending one's own sessions leads to the sign-in page."""

    async def change() -> str:
        account = await editor_by_id(post.newsroom, account_id)
        await end_all_sessions(post.newsroom, account.id, actor=post.editor.actor, subject=account.email)
        return "ended"

    return await _change(post, account_id, change)


@router.post("/desk/editors/{account_id:int}/login-link")
async def mail_link(
    account_id: int, post: DeskPost = Depends(admin_post), channel: Channel = Depends(email_channel_of)
) -> Response:
    """Mail the account a one-time sign-in link, the way /desk/login does."""
    newsroom, editor = post.newsroom, post.editor
    try:
        sent = await send_login_link(newsroom, channel, account_id, actor=editor.actor)
    except AccountNotFound:
        return _missing(newsroom, editor, account_id)
    if not sent:
        problem = (
            "The sign-in link could not be mailed: the mail relay refused it or could not be reached. Nothing else "
            "changed; try again later, or print a link with newsbot editors login-link on the server."
        )
        return await _account_page(newsroom, editor, account_id, error=problem, status=502)
    return RedirectResponse(f"/desk/editors/{account_id}?done=mailed", status_code=303)


@router.get("/desk/editors/{account_id:int}/remove", response_class=HTMLResponse)
async def confirm_removal(
    account_id: int, editor: EditorSession = Depends(current_admin), newsroom: Newsroom = Depends(newsroom_of)
) -> HTMLResponse:
    """Ask first: removing an account cannot be undone."""
    try:
        account: EditorAccount = await editor_by_id(newsroom, account_id)
    except AccountNotFound:
        return _missing(newsroom, editor, account_id)
    context = {"account": account, "yourself": account.id == editor.account_id}
    return desk_page(newsroom, editor, "editors_remove.html.j2", context, section=SECTION)


@router.post("/desk/editors/{account_id:int}/remove")
async def remove_account(account_id: int, post: DeskPost = Depends(admin_post)) -> Response:
    """Remove the account (never the only admin); removing one's own leads to the sign-in page."""

    async def change() -> str:
        await remove_editor_account(post.newsroom, account_id, actor=post.editor.actor)
        return "removed"

    return await _change(post, account_id, change)
