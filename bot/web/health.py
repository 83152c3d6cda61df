"""``GET /healthz``: is the process up and can it reach its store."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from subscribers.database import ping

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
async def healthz(request: Request) -> JSONResponse:
    newsroom = request.app.state.newsroom
    try:
        async with newsroom.reader.connect() as conn:
            await ping(conn)
    except Exception as exc:  # any store failure means unhealthy; the reason is for the operator
        return JSONResponse({"status": "unhealthy", "store": str(exc)[:200]}, status_code=503)
    return JSONResponse({"status": "ok"})
