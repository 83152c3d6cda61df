"""Who is at the desk: signed session cookies, the FastAPI dependencies desk pages use, and the sign-in routes.

A session is a cookie signed (itsdangerous, HMAC) with the newsroom's secret, never a value anyone can know. It
names the account, the account's session generation (``newsbot``'s "end all sessions" bumps it), a random session
id and when it was issued and last seen; it is HttpOnly, SameSite=Lax, Secure when the public URL is https, and
ends after :data:`IDLE_SECONDS` without a request or :data:`MAX_SECONDS` after sign-in. Every request re-reads the
account, so a removed account or a changed role counts at once. Each session has its own CSRF token (an HMAC of
its id), which every desk form carries as ``csrf_token`` and :func:`checked_form` checks on every POST.

Desk pages use the contract::

    @router.get("/desk")
    async def home(editor: EditorSession = Depends(current_editor)) -> HTMLResponse: ...

    @router.post("/desk/stories")
    async def send(form: FormData = Depends(checked_form), editor: EditorSession = Depends(current_editor)): ...

A request without a valid session is sent to ``/desk/login`` (303); an editor on an admin page gets a 403 page.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import FormData
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.app.errors import NewsbotError
from bot.app.newsroom import Newsroom
from bot.channels import Channel
from bot.editors.desk_accounts import LINK_MINUTES, check_login_link, end_all_sessions, mail_login_link, use_login_link
from bot.readers.request_limits import TooManyRequests, client_key
from bot.web.app_state import email_channel_of, newsroom_of
from bot.web.desk_rendering import desk_page
from subscribers import editor_accounts
from subscribers.preferences import normalise_email

COOKIE = "newsbot_desk"
#: A session ends after this long without a request ...
IDLE_SECONDS = 12 * 3600
#: ... and this long after sign-in, whatever happens.
MAX_SECONDS = 7 * 24 * 3600
#: How stale "last seen" may get before a request re-issues the cookie (not every request sets one).
REFRESH_SECONDS = 60
_SALT = "desk-session"


@dataclass(frozen=True, slots=True)
class EditorSession:
    """The signed-in editor of one request."""

    account_id: int
    email: str
    name: str | None
    role: str
    csrf_token: str
    #: Who did it, for the audit log: the door and the account, e.g. "desk:ana@example.org".
    actor: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class DeskLoginRequired(Exception):
    """No valid session: the answer is a 303 to the sign-in page."""


class DeskForbidden(Exception):
    """Signed in, but this page is for admins (or the form's CSRF token is wrong): a 403 page."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# -- the cookie ------------------------------------------------------------------------------------------------


def _serializer(newsroom: Newsroom) -> URLSafeSerializer:
    return URLSafeSerializer(newsroom.secret.value, salt=_SALT)


def csrf_token_of(newsroom: Newsroom, session_id: str) -> str:
    """The CSRF token of a session: derived, so it needs no storage and differs per session."""
    key = newsroom.secret.value.encode()
    return hmac.new(key, f"desk-csrf:{session_id}".encode(), hashlib.sha256).hexdigest()


def new_session_cookie(newsroom: Newsroom, account: editor_accounts.EditorAccount) -> str:
    """The cookie value of a fresh session for *account*."""
    now = newsroom.clock.now().timestamp()
    payload = {"a": account.id, "g": account.session_generation, "s": secrets.token_urlsafe(16), "i": now, "t": now}
    return _serializer(newsroom).dumps(payload)


def _payload(newsroom: Newsroom, value: str | None) -> dict[str, Any] | None:
    """The cookie's contents when its signature holds and it has not expired."""
    if not value or len(value) > 1000:
        return None
    try:
        payload = _serializer(newsroom).loads(value)
    except BadSignature:
        return None
    if not isinstance(payload, dict):
        return None
    try:
        issued, seen = float(payload["i"]), float(payload["t"])
        int(payload["a"]), int(payload["g"]), str(payload["s"])
    except (KeyError, TypeError, ValueError):
        return None
    now = newsroom.clock.now().timestamp()
    if now - seen > IDLE_SECONDS or now - issued > MAX_SECONDS:
        return None
    return payload


def set_session_cookie(response: Response, newsroom: Newsroom, value: str) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=MAX_SECONDS,
        path="/desk",
        httponly=True,
        samesite="lax",
        secure=newsroom.settings.public_url.startswith("https://"),
    )


def clear_session_cookie(response: Response, newsroom: Newsroom) -> None:
    response.delete_cookie(
        COOKIE,
        path="/desk",
        httponly=True,
        samesite="lax",
        secure=newsroom.settings.public_url.startswith("https://"),
    )


# -- the dependencies ------------------------------------------------------------------------------------------


async def current_editor(request: Request) -> EditorSession:
    """FastAPI dependency: the signed-in editor, or DeskLoginRequired (a 303 to /desk/login)."""
    cached: EditorSession | None = getattr(request.state, "desk_editor", None)
    if cached is not None:
        return cached
    newsroom = newsroom_of(request)
    payload = _payload(newsroom, request.cookies.get(COOKIE))
    if payload is None:
        raise DeskLoginRequired()
    async with newsroom.reader.connect() as conn:
        account = await editor_accounts.account_by_id(conn, int(payload["a"]))
    if account is None or account.session_generation != int(payload["g"]):
        raise DeskLoginRequired()
    now = newsroom.clock.now().timestamp()
    if now - float(payload["t"]) > REFRESH_SECONDS:  # keep an active session alive: the middleware sets it
        request.state.desk_cookie = _serializer(newsroom).dumps({**payload, "t": now})
    editor = EditorSession(
        account_id=account.id,
        email=account.email,
        name=account.name,
        role=account.role,
        csrf_token=csrf_token_of(newsroom, str(payload["s"])),
        actor=f"desk:{account.email}",
    )
    request.state.desk_editor = editor
    return editor


async def current_admin(request: Request) -> EditorSession:
    """FastAPI dependency: the signed-in editor if an admin; an editor gets a 403 page."""
    editor = await current_editor(request)
    if not editor.is_admin:
        raise DeskForbidden("This page is for admins. Ask an admin if you need something done here.")
    return editor


async def checked_form(request: Request, editor: EditorSession = Depends(current_editor)) -> FormData:
    """FastAPI dependency: the posted form, refused (403) unless its ``csrf_token`` is the session's."""
    form = await request.form()
    sent = form.get("csrf_token")
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), editor.csrf_token.encode()):
        raise DeskForbidden(
            "This form is out of date or did not come from the desk (its csrf_token field is missing or wrong). "
            "Nothing was changed: reload the page and try again."
        )
    return form


@dataclass(frozen=True, slots=True)
class DeskView:
    """What every desk page starts from: who is signed in and the newsroom the page reads."""

    editor: EditorSession
    newsroom: Newsroom

    def page(self, template: str, context: dict[str, Any], *, section: str = "", status: int = 200) -> HTMLResponse:
        """*template* (under ``templates/desk/``) in the desk's layout, for this editor."""
        return desk_page(self.newsroom, self.editor, template, context, section=section, status=status)


@dataclass(frozen=True, slots=True)
class DeskPost(DeskView):
    """One checked form post: a desk view plus the form (its CSRF token checked)."""

    form: FormData


async def editor_view(request: Request, editor: EditorSession = Depends(current_editor)) -> DeskView:
    """FastAPI dependency: a signed-in editor's page; anyone else is sent to sign in."""
    return DeskView(editor, newsroom_of(request))


async def admin_view(request: Request, editor: EditorSession = Depends(current_admin)) -> DeskView:
    """FastAPI dependency: an admin's page; an editor gets the 403 page."""
    return DeskView(editor, newsroom_of(request))


async def editor_post(request: Request, editor: EditorSession = Depends(current_editor)) -> DeskPost:
    """FastAPI dependency: a signed-in editor's form post, refused (403) without the session's CSRF token."""
    return DeskPost(editor, newsroom_of(request), await checked_form(request, editor))


async def admin_post(request: Request, editor: EditorSession = Depends(current_admin)) -> DeskPost:
    """FastAPI dependency: an admin's form post; an editor gets the 403 page before the form is read."""
    return await editor_post(request, editor)


# -- answers to the exceptions, and the cookie refresh -----------------------------------------------------------


async def _login_required(request: Request, exc: Exception) -> Response:
    response = RedirectResponse("/desk/login", status_code=303)
    if COOKIE in request.cookies:
        clear_session_cookie(response, newsroom_of(request))
    return response


async def _forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DeskForbidden)
    return desk_page(newsroom_of(request), None, "forbidden.html.j2", {"message": exc.message}, status=403)


class _RefreshSession:
    """ASGI middleware: a request that moved its session's "last seen" sends the re-signed cookie back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith("/desk"):
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            value = scope.get("state", {}).get("desk_cookie")
            if message["type"] == "http.response.start" and value:
                headers = list(message.get("headers", []))
                if not any(k == b"set-cookie" and COOKIE.encode() in v for k, v in headers):
                    cookie = SimpleCookie()
                    cookie[COOKIE] = value
                    morsel = cookie[COOKIE]
                    morsel.update({"path": "/desk", "max-age": str(MAX_SECONDS), "httponly": True, "samesite": "lax"})
                    if scope.get("scheme") == "https" or scope["app"].state.newsroom.settings.public_url.startswith(
                        "https://"
                    ):
                        morsel["secure"] = True
                    headers.append((b"set-cookie", morsel.OutputString().encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


# -- the sign-in routes ----------------------------------------------------------------------------------------

desk_auth_router = APIRouter()

_SENT = (
    "If {address} belongs to a desk account, a sign-in link is on its way. It works once, for {minutes} minutes. "
    "Nothing arrived? Check the spelling and your spam folder, or ask an admin."
)


def _too_many(newsroom: Newsroom, exc: TooManyRequests) -> HTMLResponse:
    return desk_page(
        newsroom,
        None,
        "sign_in_notice.html.j2",
        {"title": "Please wait a moment", "message": str(exc).capitalize() + ".", "links": [("/desk/login", "Back")]},
        status=429,
        headers={"Retry-After": str(exc.retry_after)},
    )


@desk_auth_router.get("/desk/login")
async def login_form(request: Request) -> HTMLResponse:
    """The sign-in form: an email address, and a link is mailed to it."""
    return desk_page(newsroom_of(request), None, "login.html.j2", {"email": "", "error": None, "sent": None})


@desk_auth_router.post("/desk/login")
async def request_login_link(
    request: Request,
    background: BackgroundTasks,
    email: str = Form(""),
    channel: Channel = Depends(email_channel_of),
) -> HTMLResponse:
    """Mail a sign-in link; the answer is the same whether or not the address has an account."""
    newsroom = newsroom_of(request)
    try:
        await newsroom.request_limits.admit(
            newsroom.engine,
            newsroom.settings,
            "desk-login",
            client_key(request.client.host if request.client else None),
        )
    except TooManyRequests as exc:
        return _too_many(newsroom, exc)
    try:
        address = normalise_email(email)
    except NewsbotError:
        error = "Enter the email address of your desk account, e.g. name@example.org."
        return desk_page(
            newsroom, None, "login.html.j2", {"email": email[:320], "error": error, "sent": None}, status=400
        )
    background.add_task(mail_login_link, newsroom, channel, address)  # after the answer: the same time for all
    sent = _SENT.format(address=address, minutes=LINK_MINUTES)
    return desk_page(newsroom, None, "login.html.j2", {"email": address, "error": None, "sent": sent})


@desk_auth_router.get("/desk/login/{token}")
async def sign_in_page(request: Request, token: str) -> Response:
    """What a sign-in link opens: a Sign in button. Following the link uses nothing up, so a mail scanner that
    opens links before the editor does cannot burn it; the button's POST does."""
    newsroom = newsroom_of(request)
    account = await _link_account(request, newsroom, token, use=False)
    if isinstance(account, Response):
        return account
    context = {"email": account.email, "action": f"/desk/login/{token}", "minutes": LINK_MINUTES}
    return desk_page(newsroom, None, "sign_in_confirm.html.j2", context)


@desk_auth_router.post("/desk/login/{token}")
async def sign_in(request: Request, token: str) -> Response:
    """Use a one-time link: the session cookie is set and the editor lands on the desk."""
    newsroom = newsroom_of(request)
    account = await _link_account(request, newsroom, token, use=True)
    if isinstance(account, Response):
        return account
    response = RedirectResponse("/desk", status_code=303)
    set_session_cookie(response, newsroom, new_session_cookie(newsroom, account))
    return response


async def _link_account(
    request: Request, newsroom: Newsroom, token: str, *, use: bool
) -> editor_accounts.EditorAccount | Response:
    """The account a sign-in link names (*use*: and use the link up), or the page to answer instead: opening links
    is limited like confirmation links (429), and a used, expired or unknown link gets the same 400 page."""
    try:
        await newsroom.request_limits.admit(
            newsroom.engine, newsroom.settings, "confirm", client_key(request.client.host if request.client else None)
        )
    except TooManyRequests as exc:
        return _too_many(newsroom, exc)
    account = await (use_login_link if use else check_login_link)(newsroom, token)
    return (
        account
        if account is not None
        else desk_page(
            newsroom,
            None,
            "sign_in_notice.html.j2",
            {
                "title": "This sign-in link no longer works",
                "message": f"Each link works once, for {LINK_MINUTES} minutes. Ask for a new one.",
                "links": [("/desk/login", "Get a new sign-in link")],
            },
            status=400,
        )
    )


@desk_auth_router.get("/desk/logout")
async def logout_page(request: Request, editor: EditorSession = Depends(current_editor)) -> HTMLResponse:
    """Sign out here, or end every session of the account (other browsers, a lost phone)."""
    return desk_page(newsroom_of(request), editor, "logout.html.j2", {})


@desk_auth_router.post("/desk/logout")
async def logout(request: Request, form: FormData = Depends(checked_form)) -> Response:
    response = RedirectResponse("/desk/login", status_code=303)
    clear_session_cookie(response, newsroom_of(request))
    return response


@desk_auth_router.post("/desk/sessions/end")
async def end_sessions(
    request: Request, form: FormData = Depends(checked_form), editor: EditorSession = Depends(current_editor)
) -> Response:
    """Sign the account out everywhere, this browser included."""
    newsroom = newsroom_of(request)
    await end_all_sessions(newsroom, editor.account_id, actor=editor.actor)
    response = RedirectResponse("/desk/login", status_code=303)
    clear_session_cookie(response, newsroom)
    return response


def install(app: FastAPI) -> None:
    """Add the desk's sign-in routes, its exception answers and the session refresh to *app*."""
    app.add_exception_handler(DeskLoginRequired, _login_required)
    app.add_exception_handler(DeskForbidden, _forbidden)
    app.add_middleware(_RefreshSession)
    app.include_router(desk_auth_router, include_in_schema=False)
