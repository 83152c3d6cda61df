"""``newsbot editors``: add, list, remove desk accounts and print a sign-in link that really signs in, once."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from bot.app.config import load_settings
from bot.app.newsroom import Newsroom
from bot.web import create_app
from tests.test_cli import assert_one_line_error, newsbot
from tests.test_cli import fresh_workdir as fresh_workdir  # the fixtures: a fresh directory with the embedded
from tests.test_cli import workdir as workdir  # defaults, and the same with its store migrated


def test_add_list_and_remove_editors(workdir: Path) -> None:
    added = newsbot("editors", "add", "Ana@Example.org", "--name", "Ana Lee", "--role", "admin", "--telegram-id", "42")
    assert added.exit_code == 0, added.stderr
    assert "added admin Ana@example.org" in added.stdout and "login-link" in added.stdout
    assert newsbot("editors", "add", "ed@example.org").exit_code == 0

    listed = newsbot("editors", "list", "--json")
    assert [(a["email"], a["role"], a["telegram_id"]) for a in json.loads(listed.stdout)] == [
        ("Ana@example.org", "admin", 42),
        ("ed@example.org", "editor", None),
    ]
    words = newsbot("editors", "list").stdout
    assert "Ana@example.org (Ana Lee)" in words and "telegram 42" in words

    assert_one_line_error(newsbot("editors", "add", "ana@EXAMPLE.org"), "already has a desk account")
    assert_one_line_error(newsbot("editors", "add", "x@example.org", "--telegram-id", "42"), "already linked")
    assert_one_line_error(newsbot("editors", "add", "x@example.org", "--role", "owner"), "role must be editor or admin")
    assert_one_line_error(newsbot("editors", "add", "not-an-address"), "invalid email address")

    assert newsbot("editors", "remove", "ED@example.org").exit_code == 0
    assert_one_line_error(newsbot("editors", "remove", "ed@example.org"), "no desk account")
    assert [a["email"] for a in json.loads(newsbot("editors", "list", "--json").stdout)] == ["Ana@example.org"]


def test_the_last_admin_cannot_be_removed_from_the_shell(workdir: Path) -> None:
    assert newsbot("editors", "add", "ana@example.org", "--role", "admin").exit_code == 0
    assert newsbot("editors", "add", "ed@example.org").exit_code == 0
    assert_one_line_error(newsbot("editors", "remove", "ANA@example.org"), "ana@example.org is the only admin")
    assert len(json.loads(newsbot("editors", "list", "--json").stdout)) == 2

    assert newsbot("editors", "add", "bo@example.org", "--role", "admin").exit_code == 0
    assert newsbot("editors", "remove", "ana@example.org").exit_code == 0
    assert_one_line_error(newsbot("editors", "remove", "bo@example.org"), "bo@example.org is the only admin")
    assert [a["email"] for a in json.loads(newsbot("editors", "list", "--json").stdout)] == [
        "bo@example.org",
        "ed@example.org",
    ]


def test_a_printed_login_link_signs_in_once(workdir: Path) -> None:
    assert newsbot("editors", "add", "ana@example.org", "--role", "admin").exit_code == 0
    printed = newsbot("editors", "login-link", "ana@example.org")
    assert printed.exit_code == 0, printed.stderr
    (url,) = printed.stdout.split()
    assert "15 minutes" in printed.stderr
    assert_one_line_error(newsbot("editors", "login-link", "nobody@example.org"), "no desk account")

    async def open_link() -> tuple[int, int]:
        settings = load_settings()
        assert url.startswith(f"{settings.public_url}/desk/login/")
        async with await Newsroom.open(settings) as room:
            transport = httpx.ASGITransport(app=create_app(room))
            async with httpx.AsyncClient(transport=transport, base_url=settings.public_url) as client:
                first = await client.post(url)
                second = await client.post(url)
            return first.status_code, second.status_code

    assert asyncio.run(open_link()) == (303, 400)
