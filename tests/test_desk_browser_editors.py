"""The desk's Editors page in a real browser (Debian's Chromium through Playwright): an admin finds it in the
navigation, adds an account, is told by name what is wrong with a bad Telegram id, and neither the list, an
account's page nor the removal question scrolls sideways at 375 px."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from bot.app.config import Settings
from bot.app.newsroom import Newsroom
from bot.editors.desk_accounts import list_editors, login_link_for
from tests.desk_sessions import ADMIN_EMAIL, add_editor
from tests.test_desk_browser import served_desk

LONG_ADDRESS = "a.remarkably.long.name.for.an.editor@newsroom.fairview-gazette.example"


async def _width(page: object) -> int:
    width: int = await page.evaluate("() => document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    return width


async def admin_on_a_phone(browser: Any, newsroom: Newsroom, base: str) -> Any:
    """A page 375 px wide, signed in as a new admin with a printed link."""
    await add_editor(newsroom, ADMIN_EMAIL, role="admin")
    link = await login_link_for(newsroom, ADMIN_EMAIL)
    page = await browser.new_page(viewport={"width": 375, "height": 812})
    await page.goto(base + urlsplit(link.url).path)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{base}/desk")
    return page


async def test_an_admin_manages_editors_at_375_px(settings: Settings, chromium: str) -> None:
    from playwright.async_api import async_playwright

    async with served_desk(settings) as (newsroom, base), async_playwright() as playwright:
        browser = await playwright.chromium.connect(chromium)
        try:
            page = await admin_on_a_phone(browser, newsroom, base)
            await page.get_by_role("link", name="Editors").click()
            await page.get_by_role("heading", name="1 desk account").wait_for()
            seen = {"list": await _width(page)}

            await page.get_by_label("Email").fill(LONG_ADDRESS)
            await page.get_by_label("Telegram id").fill("12 34")
            await page.get_by_role("button", name="Add account").click()
            await page.get_by_text("is not a Telegram user id").wait_for()
            seen["refused"] = await _width(page)
            await page.get_by_label("Telegram id").fill("1234")
            await page.get_by_role("button", name="Add account").click()
            await page.get_by_text("The account is added").wait_for()
            seen["account"] = await _width(page)

            await page.get_by_role("link", name="Remove this account…").click()
            await page.get_by_role("heading", name=f"Remove {LONG_ADDRESS}?").wait_for()
            seen["remove"] = await _width(page)
            await page.get_by_role("button", name=f"Remove {LONG_ADDRESS}").click()
            await page.get_by_text("The account is removed").wait_for()
            assert all(width <= 375 for width in seen.values()), seen
            assert [a.email for a in await list_editors(newsroom)] == [ADMIN_EMAIL]
        finally:
            await browser.close()
