"""The Telegram webhook: Telegram POSTs each update to ``NEWSBOT_WEBHOOK_URL``; this route hands it to the bot.

Anyone can POST to a public URL, so every request must carry the secret given to setWebhook in the
``X-Telegram-Bot-Api-Secret-Token`` header; without it the answer is 403 and nothing is processed. Accepted
updates go on the Application's update queue, as with long polling, and are answered 200 at once: Telegram
retries anything else, so an update that arrives while the bot is stopping gets 503 and comes back later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response
from telegram.ext import Application

from bot.app.config import Settings
from bot.app.telegram_updates import parse_update, update_id

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def webhook_secret(settings: Settings, signing_key: str | None = None) -> str:
    """``NEWSBOT_WEBHOOK_SECRET``, or one derived from the newsroom's signing secret (``newsroom.secret.value``).

    Without *signing_key* the explicit ``NEWSBOT_SECRET_KEY`` is used; with neither there is nothing secret to
    derive from, and that is refused rather than falling back to a value anyone could compute.
    """
    if settings.webhook_secret:
        return settings.webhook_secret
    key = signing_key or settings.secret_key
    if not key:
        raise ValueError("no signing secret to derive the webhook secret from (pass newsroom.secret.value)")
    return hmac.new(key.encode(), b"telegram-webhook", hashlib.sha256).hexdigest()


def webhook_path(settings: Settings) -> str:
    """The path Telegram posts to: the path of ``NEWSBOT_WEBHOOK_URL``."""
    return urlsplit(settings.webhook_url).path or "/"


def webhook_router(application: Application[Any, Any, Any, Any, Any, Any], *, secret: str, path: str) -> APIRouter:
    """A router with one route, ``POST <path>``, feeding *application*."""
    router = APIRouter()
    expected = secret.encode()

    @router.post(path, include_in_schema=False)
    async def telegram_update(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            logger.warning("webhook call without the right secret token from %s: refused", request.client)
            return Response(status_code=403)
        if not application.running:
            return Response(status_code=503)
        try:
            data = json.loads(await request.body())
        except ValueError:
            return Response(status_code=400)
        if update_id(data) is None:
            return Response(status_code=400)  # not an update at all
        update = parse_update(data, application.bot)
        if update is not None:  # one PTB cannot parse is acknowledged (skipped), or Telegram would send it again
            await application.update_queue.put(update)
        return Response(status_code=200)

    return router
