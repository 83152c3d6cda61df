"""``GET /metrics``: the process's and the store's metrics for Prometheus (:mod:`bot.app.metrics`).

Never open by default. With ``NEWSBOT_API_TOKEN`` set it needs that token as a bearer token (401 otherwise), as
the stories API does; without a token it is served only when ``NEWSBOT_METRICS=1`` (404 otherwise), for a web
port that only the monitoring network reaches.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from bot.app.metrics import exposition
from bot.web.app_state import newsroom_of
from bot.web.story_requests import bears_token

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    newsroom = newsroom_of(request)
    settings = newsroom.settings
    if settings.api_token:
        if not bears_token(request, settings.api_token):
            raise HTTPException(
                401,
                "/metrics needs the API token: missing or wrong bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )
    elif not settings.metrics:
        raise HTTPException(404, "metrics are off: set NEWSBOT_METRICS=1, or NEWSBOT_API_TOKEN to serve them behind it")
    return Response(await exposition(newsroom), media_type=CONTENT_TYPE_LATEST)
