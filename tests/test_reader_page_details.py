"""Reader pages on a phone and inside an outlet's page: long addresses wrap at 375 px, the iframe signup embed works
through to "Check your inbox" while personal pages stay unframable, and a pending address's preference page shows
the topics chosen at signup. Browser checks use Playwright with Debian's Chromium and skip without them."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from bot.app.newsroom import Newsroom
from bot.readers.email_signup import request_email_confirmation
from bot.web import create_app
from tests.email_readers import path_of, web_client
from tests.newsroom_fixtures import add_reader

LONG_ADDRESS = "first.middle.last.and-a-very-long-department-name-too@newsroom.regional-bureau.fairview-gazette.example"


def _frame_ancestors(response_headers: dict[str, str] | object) -> str | None:
    policy = str(response_headers.get("content-security-policy", ""))  # type: ignore[attr-defined]
    found = [part.strip() for part in policy.split(";") if part.strip().startswith("frame-ancestors")]
    return found[0] if found else None


async def test_the_signup_flow_may_be_framed_and_the_personal_pages_may_not(newsroom: Newsroom) -> None:
    reader = await add_reader(newsroom, "local", email="reader@example.org")
    async with web_client(newsroom) as client:
        form = await client.get("/subscribe")
        sent = await client.post("/subscribe", data={"email": "new@example.org", "topic": ["local"]})
        again = await client.post("/subscribe", data={"email": "new@example.org", "topic": ["local"]})
        invalid = await client.post("/subscribe", data={"email": "not an address", "topic": ["local"]})
        personal = [
            await client.get(path_of(newsroom.signer.preferences_url(reader))),
            await client.get(path_of(newsroom.signer.unsubscribe_url(reader))),
            await client.get("/confirm/forged-token"),
        ]
    assert "Check your inbox" in sent.text and again.status_code == 429 and invalid.status_code == 400
    for response in (form, sent, again, invalid):
        assert _frame_ancestors(response.headers) is None, response.text[:200]
        assert "x-frame-options" not in response.headers
    for response in personal:
        assert _frame_ancestors(response.headers) == "frame-ancestors 'none'"
        assert response.headers["cache-control"] == "no-store"


async def test_a_pending_address_sees_the_topics_it_chose_on_its_preference_page(newsroom: Newsroom) -> None:
    async with web_client(newsroom) as client:
        await client.post("/subscribe", data={"email": "new@example.org", "topic": ["local", "sports"]})
        request = await request_email_confirmation(newsroom, _NoMail(), address="other@example.org", topics=["weather"])
        page = await client.get(path_of(newsroom.signer.preferences_url(request.subscriber_id)))
    assert "Waiting for you to confirm this address" in page.text
    assert "Once you do, you get news on the topics ticked below." in page.text
    assert 'value="weather" checked' in page.text and 'value="local" checked' not in page.text


class _NoMail:
    """An email channel that accepts the confirmation email and keeps it nowhere (the page is what is tested)."""

    name = "email"

    async def send(self, message: object) -> object:
        from bot.channels import Receipt

        return Receipt(None)

    async def aclose(self) -> None:
        """Nothing to close."""


async def test_an_existing_readers_topics_are_not_changed_by_someone_signing_their_address_up(
    newsroom: Newsroom,
) -> None:
    reader = await add_reader(newsroom, "local", email="reader@example.org", confirmed=False)
    await request_email_confirmation(newsroom, _NoMail(), address="reader@example.org", topics=["sports"])
    async with web_client(newsroom) as client:
        page = await client.get(path_of(newsroom.signer.preferences_url(reader)))
    assert 'value="local" checked' in page.text and 'value="sports" checked' not in page.text


# --- in a browser --------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """*app* under uvicorn on a loopback port bound up front (connections wait in its backlog until it serves)."""
    sock = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def outlet_site(framed_url: str) -> Starlette:
    """The outlet's own site (another origin: another port): one page embedding *framed_url* in an iframe."""

    async def join(request: Request) -> HTMLResponse:
        return HTMLResponse(f'<h1>Join us</h1><iframe src="{framed_url}" width="360" height="700"></iframe>')

    return Starlette(routes=[Route("/join", join)])


async def test_long_addresses_wrap_on_the_preference_and_unsubscribe_pages_at_375_px(
    newsroom: Newsroom, chromium: str
) -> None:
    from playwright.async_api import async_playwright

    reader = await add_reader(newsroom, "local", email=LONG_ADDRESS)
    async with web_client(newsroom) as client:
        pages = [
            (await client.get(path_of(newsroom.signer.preferences_url(reader)))).text,
            (await client.get(path_of(newsroom.signer.unsubscribe_url(reader)))).text,
        ]
    assert all(LONG_ADDRESS in page for page in pages)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.connect(chromium)
        try:
            page = await browser.new_page(viewport={"width": 375, "height": 812})
            for document in pages:
                await page.set_content(document)
                widths = await page.evaluate(
                    "() => [document.documentElement.scrollWidth,"
                    " Math.max(...[...document.querySelectorAll('body *')].map(e => e.getBoundingClientRect().right))]"
                )
                assert widths[0] <= 375 and widths[1] <= 375, widths
        finally:
            await browser.close()


async def test_the_iframe_embed_signs_up_through_to_check_your_inbox(newsroom: Newsroom, chromium: str) -> None:
    from playwright.async_api import async_playwright

    reader = await add_reader(newsroom, "local", email="reader@example.org")
    async with serving(create_app(newsroom)) as base, async_playwright() as playwright:
        browser = await playwright.chromium.connect(chromium)
        try:
            async with serving(outlet_site(f"{base}/subscribe")) as outlet:
                page = await browser.new_page(viewport={"width": 375, "height": 812})
                await page.goto(f"{outlet}/join")
                frame = page.frame_locator("iframe")
                await frame.locator("input[type=email]").fill("framed@example.org")
                await frame.locator("input[value=local]").check()
                await frame.locator("button[type=submit]").click()
                await frame.get_by_role("heading", name="Check your inbox").wait_for(timeout=10_000)
                (embedded,) = [f for f in page.frames if f is not page.main_frame]
                assert embedded.url == f"{base}/subscribe"

            # A personal page stays unframable: the browser refuses to show it inside the outlet's page.
            async with serving(outlet_site(base + path_of(newsroom.signer.preferences_url(reader)))) as outlet:
                page = await browser.new_page()
                refused: list[str] = []
                page.on("requestfailed", lambda request: refused.append(request.failure or ""))
                await page.goto(f"{outlet}/join")
                (embedded,) = [f for f in page.frames if f is not page.main_frame]
                await embedded.wait_for_load_state()
                assert "Your preferences" not in await embedded.content()
                assert refused == ["net::ERR_BLOCKED_BY_RESPONSE"]
        finally:
            await browser.close()
