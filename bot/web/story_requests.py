"""What every story endpoint does before and after its own work, in one place so that they refuse alike.

The stories API (``/api/stories``), its changes (PATCH, DELETE) and its control (schedule, stop, resume) share:
the bearer token, checked before the body is read; a body read against ``NEWSBOT_MAX_API_BODY_BYTES`` (the Ghost
webhook reads its signed body the same way); the text fields of a story; and one mapping of the story's life
errors onto HTTP: no such story 404, a state that forbids the change 409, a story or topic refused 422 naming the
field.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, Field, ValidationInfo, field_validator
from starlette.types import Message

from bot.app.errors import StoryAlreadySent, StoryHalted, StoryNotFound, StoryRejected, TopicNotFound
from bot.app.newsroom import Newsroom
from bot.stories.corrections import StoryChangedMeanwhile
from bot.stories.parsing import check_image_url, check_story_url, find_markup
from bot.stories.retraction import StoryRetracted
from bot.stories.story import MAX_TITLE_CHARS
from bot.web.app_state import newsroom_of

Answer = TypeVar("Answer", bound=BaseModel)

#: The answers every route about a stored story can give besides its own.
STORY_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or wrong bearer token"},
    404: {"description": "No such story"},
}


def _valid_unicode(value: str) -> str:
    """JSON can spell a lone surrogate (``"\\ud800"``), which no store, mail or message can carry: refuse it."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (it contains a lone surrogate)") from None
    return value


#: A string of the API's JSON: valid Unicode, checked before the field's own rules.
Text = Annotated[str, AfterValidator(_valid_unicode)]
#: A story's headline as every request model takes it; the intake derives one from the lead when it is absent.
Headline = Annotated[
    Text | None, Field(max_length=MAX_TITLE_CHARS, description="Headline; derived from the lead if absent.")
]


def _iso_text(value: object) -> object:
    """A moment comes as ISO 8601 text; a number (a Unix time?) is a guess the API does not make."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date and time with its UTC offset, such as 2026-12-02T06:00+01:00")
    return value


#: A moment of the API's JSON: ISO 8601 text with its UTC offset (a naive time means a different instant on every
#: server); strict mode would refuse text, so the type check is :func:`_iso_text`.
Moment = Annotated[AwareDatetime, BeforeValidator(_iso_text), Field(strict=False)]


class StoryTextIn(BaseModel):
    """The rules for a story's ``title``, ``url`` and ``image_url`` fields (the intake's own), which each request model
    declares with its own words."""

    @field_validator("title", check_fields=False)
    @classmethod
    def _plain_title(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if find_markup(value) is not None:
            raise ValueError("must be plain text, without HTML markup")
        return " ".join(value.split()) or None

    @field_validator("url", "image_url", check_fields=False)
    @classmethod
    def _http_link(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            return None
        check = check_image_url if info.field_name == "image_url" else check_story_url
        try:
            return check(value)
        except StoryRejected as exc:
            raise ValueError(str(exc)) from None


def check_token(request: Request) -> None:
    """503 while no token is configured, 401 unless the request bears it (compared in constant time)."""
    expected = newsroom_of(request).settings.api_token
    if not expected:
        raise HTTPException(503, "the stories API is disabled: set NEWSBOT_API_TOKEN to enable it")
    if not bears_token(request, expected):
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


def bears_token(request: Request, expected: str) -> bool:
    """Whether the request's ``Authorization: Bearer`` is *expected* (compared in constant time)."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())


async def read_limited_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it (or its declared length) passes *limit*: never held whole."""
    too_large = HTTPException(413, f"request body is larger than {limit} bytes (NEWSBOT_MAX_API_BODY_BYTES)")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


async def _within_limit(request: Request, limit: int) -> Request:
    """The request with its body read under *limit* and replayed, for FastAPI to parse."""
    body = await read_limited_body(request, limit)
    received = False

    async def replay() -> Message:
        nonlocal received
        if received:
            return {"type": "http.disconnect"}
        received = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, replay)


def _check_utf8(body: bytes) -> None:
    """JSON travels as UTF-8 (RFC 8259); anything else is a 422 on the body rather than FastAPI's bare 400."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = f"the body must be JSON encoded as UTF-8 (byte {exc.start} is not)"
        error = {"type": "json_invalid", "loc": ("body",), "msg": message, "input": None}
        raise RequestValidationError([error]) from None


class GuardedRoute(APIRoute):
    """Checks the token, then reads the body against the size limit, before FastAPI parses anything."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            check_token(request)
            if request.method in ("POST", "PUT", "PATCH"):
                request = await _within_limit(request, newsroom_of(request).settings.max_api_body_bytes)
                _check_utf8(await request.body())
            return await handler(request)

        return guarded


#: Declared for the OpenAPI schema (so clients see the bearer scheme); :class:`GuardedRoute` does the actual check.
bearer = HTTPBearer(auto_error=False, description="NEWSBOT_API_TOKEN")


def story_router() -> APIRouter:
    """A router for story endpoints: under ``/api``, every route guarded and documented with the bearer scheme."""
    return APIRouter(prefix="/api", tags=["stories"], route_class=GuardedRoute, dependencies=[Security(bearer)])


def invalid(loc: tuple[str | int, ...], message: str, value: object) -> RequestValidationError:
    """A 422 naming the body field at *loc*, as FastAPI's own refusals do."""
    return RequestValidationError([{"type": "value_error", "loc": ("body", *loc), "msg": message, "input": value}])


def check_topics(newsroom: Newsroom, topics: list[str]) -> None:
    """A 422 naming the first unknown topic of a request (with a suggestion), before anything is stored."""
    for index, name in enumerate(topics):
        try:
            newsroom.taxonomy.resolve(name)
        except TopicNotFound as exc:
            raise invalid(("topics", index), str(exc), name) from None


@contextmanager
def story_refusals(body: str = "") -> Iterator[None]:
    """The story's life errors as HTTP answers: 404 no such story, 409 its state forbids this, 422 on the body.

    *body* is the request's story text, quoted (shortened) in a 422 about it.
    """
    try:
        yield
    except StoryNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except (StoryAlreadySent, StoryHalted, StoryRetracted, StoryChangedMeanwhile) as exc:
        raise HTTPException(409, str(exc)) from None
    except TopicNotFound as exc:  # a front matter topic in the body
        raise invalid(("body",), str(exc), exc.name) from None
    except StoryRejected as exc:
        raise invalid(("body",), str(exc), body[:100]) from None


def answer_from(model: type[Answer], report: object, **fields: Any) -> Answer:
    """*model* filled from *report*: the story's life reports name what they did as the API's answers do, so each
    field is taken from the attribute of that name, and *fields* give those the report words otherwise (its id)."""
    taken = {name: getattr(report, name) for name in model.model_fields if name not in fields and hasattr(report, name)}
    return model(**taken, **fields)
