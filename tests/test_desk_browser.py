"""The desk in a real browser (Debian's Chromium through Playwright): sign in with a printed link, compose the
sample story, preview it, send it as breaking after the confirmation, watch its progress, stop and resume it,
correct it, retract it; a forged form is refused; and no desk page scrolls sideways at 375 px."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import uvicorn

from bot.app.config import Settings
from bot.app.newsroom import Newsroom
from bot.channels import build_channels
from bot.editors.desk_accounts import login_link_for
from bot.outbox.worker import DeliveryWorker
from bot.web import create_app
from tests.desk_sessions import add_editor
from tests.newsroom_fixtures import SAMPLE_STORY, add_reader

SAMPLE = SAMPLE_STORY.read_text(encoding="utf-8")
PAGES = ("/desk", "/desk/stories", "/desk/status", "/desk/audit", "/desk/digest")


@contextlib.asynccontextmanager
async def served_desk(settings: Settings) -> AsyncIterator[tuple[Newsroom, str]]:
    """The real app under uvicorn on a loopback port, its public URL that port (so sign-in links lead there)."""
    sock = socket.create_server(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    newsroom = await Newsroom.open(settings.model_copy(update={"public_url": base}))
    server = uvicorn.Server(uvicorn.Config(create_app(newsroom), log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield newsroom, base
    finally:
        server.should_exit = True
        await task
        sock.close()
        await newsroom.close()


async def test_an_editor_signs_in_sends_breaking_news_watches_it_and_stops_it(
    settings: Settings, chromium: str
) -> None:
    from playwright.async_api import async_playwright

    async with served_desk(settings) as (newsroom, base), async_playwright() as playwright:
        for chat in ("2001", "2002", "2003"):
            await add_reader(newsroom, "north-korea", telegram_chat=chat)
        await add_editor(newsroom)
        link = await login_link_for(newsroom, "editor@fairview-gazette.example")  # what `editors login-link` prints
        browser = await playwright.chromium.connect(chromium)
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 900})
            await page.goto(base + urlsplit(link.url).path)
            await page.get_by_role("button", name="Sign in").click()  # the link alone uses nothing up
            await page.wait_for_url(f"{base}/desk")
            await page.get_by_label("Story text").fill(SAMPLE)
            await page.get_by_label("Breaking news").check()
            await page.get_by_role("button", name="Preview").click()
            await page.get_by_role("heading", name="Telegram").wait_for()
            assert await page.locator(".bubble").count() == 1
            assert await page.locator("iframe.phone").count() == 1 and await page.locator("iframe.wide").count() == 1
            assert await page.locator("input[name=topic][value=north-korea]").first.is_checked()
            await page.get_by_role("button", name="Send breaking…").click()
            await page.get_by_role("heading", name="Send breaking news to 3 readers?").wait_for()
            await page.get_by_role("button", name="Yes, send to 3 readers").click()
            await page.wait_for_url(f"{base}/desk/stories/**")
            assert await page.locator("#state").inner_text() == "SENDING"
            assert "0 of 3" in await page.content()

            await page.get_by_role("button", name="Stop sending").click()
            await page.locator("#state", has_text="Stopped").wait_for()
            await page.get_by_role("button", name="Resume").click()
            await page.locator("#state", has_text="Sending").wait_for()

            channels = build_channels(newsroom.settings)
            try:
                await DeliveryWorker(newsroom, channels).drain()
            finally:
                for channel in channels.values():
                    await channel.aclose()
            await page.reload()
            assert "3 of 3" in await page.content()
            assert await page.locator("#state").inner_text() == "SENT"

            await page.get_by_text("Correct the story").click()
            await page.get_by_label("Headline").fill("North Korea fires missile, Japan says")
            await page.get_by_label("Note").fill("The headline named the wrong country.")
            await page.get_by_role("button", name="Correct", exact=True).click()
            await page.get_by_text("Corrected: Telegram copies").wait_for()
            assert await page.locator("#state").inner_text() == "CORRECTED"

            # A form whose token was tampered with changes nothing.
            await page.goto(f"{base}/desk")
            await page.locator("input[name=csrf_token]").first.evaluate("e => e.value = 'forged'", None)
            await page.get_by_label("Story text").fill("Another story that must not be stored.")
            await page.get_by_role("button", name="Preview").click()
            assert "csrf_token" in await page.content()

            await page.goto(f"{base}/desk/stories")
            await page.locator(".story-row a").first.click()
            await page.get_by_role("link", name="Retract…").click()
            await page.get_by_label("Note").fill("Withdrawn pending confirmation.")
            await page.get_by_role("button", name="Retract").click()
            await page.locator("#state", has_text="Withdrawn").wait_for()
        finally:
            await browser.close()


async def test_no_desk_page_scrolls_sideways_at_375_px(settings: Settings, chromium: str) -> None:
    from playwright.async_api import async_playwright

    async with served_desk(settings) as (newsroom, base), async_playwright() as playwright:
        await add_editor(newsroom)
        link = await login_link_for(newsroom, "editor@fairview-gazette.example")
        browser = await playwright.chromium.connect(chromium)
        try:
            page = await browser.new_page(viewport={"width": 375, "height": 812})
            await page.goto(base + urlsplit(link.url).path)
            await page.get_by_role("button", name="Sign in").click()  # the link alone uses nothing up
            await page.wait_for_url(f"{base}/desk")
            await page.get_by_label("Story text").fill(SAMPLE)
            await page.get_by_role("button", name="Preview").click()
            await page.get_by_role("heading", name="Telegram").wait_for()
            seen = {"preview": await _width(page)}
            await page.get_by_role("button", name="Send", exact=True).click()
            await page.wait_for_url(f"{base}/desk/stories/**")
            seen["story"] = await _width(page)
            for path in PAGES:
                await page.goto(base + path)
                seen[path] = await _width(page)
            assert all(width <= 375 for width in seen.values()), seen
        finally:
            await browser.close()


async def _width(page: object) -> int:
    width: int = await page.evaluate("() => document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    return width
