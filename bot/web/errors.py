"""How the web app answers requests it refuses before any route runs: invalid fields and unsupported methods.

FastAPI's own answers fall short in two places. Its 422 repeats the invalid input, and an input holding a lone
surrogate (JSON can spell ``"\\ud800"``) cannot be encoded as UTF-8, so the refusal itself became a 500. And
Starlette's 405 names the methods of the first route whose path matched, so ``OPTIONS /subscribe`` answered
``Allow: GET`` although the page also takes POST; here ``Allow`` lists every method the path takes.
"""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match

#: Methods a route of this app can take; probed in this order to build ``Allow``.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


async def invalid_fields(request: Request, exc: Exception) -> Response:
    """422 naming each invalid field, as FastAPI answers it, with text that is not valid Unicode replaced."""
    assert isinstance(exc, RequestValidationError)
    content = json.dumps({"detail": jsonable_encoder(exc.errors())}, ensure_ascii=False)
    return Response(content.encode("utf-8", "replace"), status_code=422, media_type="application/json")


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    """405 whose ``Allow`` lists the methods of every route at this path, not only those of the first one."""
    assert isinstance(exc, HTTPException)
    allowed = allowed_methods(request)
    headers = {**(exc.headers or {}), "Allow": ", ".join(allowed)} if allowed else exc.headers
    return await http_exception_handler(request, HTTPException(405, exc.detail, headers=headers))


def allowed_methods(request: Request) -> list[str]:
    """The methods some route of the app answers at the request's path."""
    routes = request.app.router.routes
    allowed = []
    for method in METHODS:
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] is Match.FULL for route in routes):
            allowed.append(method)
    return allowed


def install(app: FastAPI) -> None:
    """Use these answers in *app*."""
    app.add_exception_handler(RequestValidationError, invalid_fields)
    app.add_exception_handler(405, method_not_allowed)
