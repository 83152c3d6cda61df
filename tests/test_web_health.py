"""The web side answers health checks through real ASGI calls."""

from __future__ import annotations

import httpx

from bot.app.newsroom import Newsroom
from bot.web import create_app


async def test_healthz_reports_ok_when_the_store_answers(newsroom: Newsroom) -> None:
    app = create_app(newsroom)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
        answer = await client.get("/healthz")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}
