"""Signed-in desk clients for the desk's page tests: an account in the store and its session cookie, as sign-in
through a login link would set it (the sign-in flow itself is tested with the links)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator

import httpx

from bot.app.newsroom import Newsroom
from bot.web import create_app
from bot.web.desk_auth import COOKIE, new_session_cookie
from subscribers import editor_accounts

EDITOR_EMAIL = "editor@fairview-gazette.example"
ADMIN_EMAIL = "admin@fairview-gazette.example"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def add_editor(
    newsroom: Newsroom, email: str = EDITOR_EMAIL, role: str = "editor"
) -> editor_accounts.EditorAccount:
    async with newsroom.engine.begin() as conn:
        return await editor_accounts.add_account(
            conn, email=email, name=None, role=role, telegram_id=None, at=newsroom.clock.now()
        )


@contextlib.asynccontextmanager
async def desk_client(newsroom: Newsroom, *, role: str = "editor") -> AsyncIterator[httpx.AsyncClient]:
    """The real app through httpx, signed in as an editor (or an admin)."""
    account = await add_editor(newsroom, ADMIN_EMAIL if role == "admin" else EDITOR_EMAIL, role)
    transport = httpx.ASGITransport(app=create_app(newsroom))
    async with httpx.AsyncClient(transport=transport, base_url="https://news.example.org") as client:
        client.cookies.set(COOKIE, new_session_cookie(newsroom, account), domain="news.example.org", path="/desk")
        yield client


def csrf_of(page: str) -> str:
    """The CSRF token a desk page's forms carry."""
    match = _CSRF.search(page)
    assert match, "the page has no form with a csrf_token"
    return match.group(1)
