"""The desk's Readers in a real browser (Debian's Chromium through Playwright): an editor opening an admin page
gets the 403 page, and an admin's Readers pages (counts and chart, a search, a record, an import with its row
errors and with its counts) do not scroll sideways at 375 px."""

from __future__ import annotations

from urllib.parse import urlsplit

from bot.app.config import Settings
from bot.editors.desk_accounts import login_link_for
from tests.desk_sessions import ADMIN_EMAIL, EDITOR_EMAIL, add_editor
from tests.newsroom_fixtures import add_reader
from tests.test_desk_browser import served_desk

BAD_CSV = b"telegram_chat,email,topics\n2001,,north-korea\n,a-rather-long-address-that-is-not-valid,no-such-topic\n"
GOOD_CSV = b"telegram_chat,email,topics\n2001,,north-korea\n,reader.with.a.long.name@fairview-gazette.example,world\n"


async def test_an_editor_opening_the_readers_import_gets_the_403_page(settings: Settings, chromium: str) -> None:
    from playwright.async_api import async_playwright

    async with served_desk(settings) as (newsroom, base), async_playwright() as playwright:
        await add_editor(newsroom)
        link = await login_link_for(newsroom, EDITOR_EMAIL)
        browser = await playwright.chromium.connect(chromium)
        try:
            page = await browser.new_page()
            await page.goto(base + urlsplit(link.url).path)
            await page.get_by_role("button", name="Sign in").click()  # the link alone uses nothing up
            await page.wait_for_url(f"{base}/desk")
            await page.get_by_role("link", name="Readers").click()
            await page.get_by_role("heading", name="0 readers").wait_for()
            assert await page.get_by_role("link", name="Import a CSV…").count() == 0
            answer = await page.goto(f"{base}/desk/readers/import")
            assert answer is not None and answer.status == 403
            await page.get_by_role("heading", name="Not allowed").wait_for()
            assert "This page is for admins" in await page.content()
        finally:
            await browser.close()


async def test_the_readers_pages_do_not_scroll_sideways_at_375_px(settings: Settings, chromium: str) -> None:
    from playwright.async_api import async_playwright

    async with served_desk(settings) as (newsroom, base), async_playwright() as playwright:
        reader = await add_reader(
            newsroom, "north-korea", "world", telegram_chat="-1001234567890", email="someone.far.away@example.org"
        )
        await add_editor(newsroom, ADMIN_EMAIL, "admin")
        link = await login_link_for(newsroom, ADMIN_EMAIL)
        browser = await playwright.chromium.connect(chromium)
        try:
            page = await browser.new_page(viewport={"width": 375, "height": 812})
            await page.goto(base + urlsplit(link.url).path)
            await page.get_by_role("button", name="Sign in").click()  # the link alone uses nothing up
            await page.wait_for_url(f"{base}/desk")
            seen: dict[str, int] = {}
            await page.goto(f"{base}/desk/readers")
            seen["readers"] = await _width(page)
            await page.get_by_label("Find a reader").fill("far.away")
            await page.get_by_role("button", name="Search").click()
            await page.get_by_role("link", name=f"#{reader}").click()
            await page.get_by_role("heading", name=f"Reader #{reader}").wait_for()
            seen["record"] = await _width(page)

            await page.goto(f"{base}/desk/readers/import")
            seen["import"] = await _width(page)
            await page.set_input_files("#file", files=[{"name": "r.csv", "mimeType": "text/csv", "buffer": BAD_CSV}])
            await page.get_by_role("button", name="Import").click()
            await page.get_by_text("nothing was imported").wait_for()
            assert "line 3:" in await page.content()
            seen["import errors"] = await _width(page)
            await page.set_input_files("#file", files=[{"name": "r.csv", "mimeType": "text/csv", "buffer": GOOD_CSV}])
            await page.get_by_role("button", name="Import").click()
            await page.get_by_text("Imported 2 of 2 rows").wait_for()
            seen["imported"] = await _width(page)
            assert all(width <= 375 for width in seen.values()), seen
        finally:
            await browser.close()


async def _width(page: object) -> int:
    width: int = await page.evaluate("() => document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    return width
