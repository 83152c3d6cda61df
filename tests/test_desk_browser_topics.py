"""The desk's Topics and Social pages in a real browser (Debian's Chromium through Playwright), at 375 px: an admin
adds a topic and a social destination for it, the compose page offers and ticks the new topic, and the story sent
from there queues a post for the new destination; no page on the way scrolls sideways."""

from __future__ import annotations

from sqlalchemy import select

from bot.app.config import Settings
from subscribers.schema import social_posts
from tests.fakes.http_endpoints import Webhook
from tests.test_desk_browser import served_desk
from tests.test_desk_browser_editors import _width, admin_on_a_phone

STORY = "Mayor resigns\n\nThe mayor told the city council on Monday evening that she resigns at the end of the month."


async def test_an_admin_adds_a_topic_and_a_destination_and_a_story_uses_both(
    settings: Settings, chromium: str, webhook: Webhook
) -> None:
    from playwright.async_api import async_playwright

    async with served_desk(settings) as (newsroom, base), async_playwright() as playwright:
        browser = await playwright.chromium.connect(chromium)
        try:
            page = await admin_on_a_phone(browser, newsroom, base)
            await page.get_by_role("link", name="Topics").click()
            await page.get_by_role("heading", name="21 topics readers can follow").wait_for()
            seen = {"topics": await _width(page)}

            await page.locator("#slug").fill("City Hall")
            await page.locator("#name").fill("City Hall")
            await page.locator("#keywords").fill("city council, mayor")
            await page.get_by_role("button", name="Add topic").click()
            await page.get_by_text("use lowercase letters and digits").wait_for()
            seen["refused"] = await _width(page)
            await page.locator("#slug").fill("city-hall")
            await page.get_by_role("button", name="Add topic").click()
            await page.get_by_text("The topic is added").wait_for()
            seen["topic"] = await _width(page)
            await page.get_by_role("link", name="Retire City Hall…").click()
            await page.get_by_role("heading", name="Retire City Hall?").wait_for()
            seen["retire"] = await _width(page)

            await page.get_by_role("link", name="Social").click()
            await page.get_by_label("Apprise URL or outlet channel").fill(webhook.url("json", "/hook?token=s3cret"))
            await page.get_by_label("City Hall").check()
            await page.get_by_role("button", name="Add destination").click()
            await page.get_by_text("The destination is added").wait_for()
            assert "s3cret" not in await page.content()
            seen["social"] = await _width(page)

            await page.get_by_role("link", name="Compose").click()
            await page.get_by_label("Story text").fill(STORY)
            await page.get_by_role("button", name="Preview").click()
            await page.get_by_role("heading", name="Telegram").wait_for()
            assert await page.get_by_label("City Hall").is_checked()  # offered, and ticked by the tagger
            seen["preview"] = await _width(page)
            await page.get_by_role("button", name="Send", exact=True).click()
            await page.wait_for_url(f"{base}/desk/stories/**")
            (key,) = newsroom.distribution.destinations
            async with newsroom.reader.connect() as conn:
                assert list(await conn.execute(select(social_posts.c.destination))) == [(key,)]
            assert all(width <= 375 for width in seen.values()), seen
        finally:
            await browser.close()
