"""The reader's pages for email: sign up, confirm, unsubscribe in one click, change preferences; no account needed.

Personal pages are reached through signed links (``bot.rendering.signed_links``): the token is the whole
authorisation, so no cookie or session is ever set, and ``POST /unsubscribe/{token}`` is exactly what mailbox
providers call for RFC 8058 one-click unsubscribe (body ``List-Unsubscribe=One-Click``). A forged or expired link
gets a friendly page and changes nothing. Every page is plain HTML from ``templates/web/`` (autoescaped), works
without JavaScript and is sized for a phone.

The signup form at ``/subscribe`` is meant to be linked to or embedded by the outlet's site; ``?topic=local``
pre-ticks topics. Signups and confirmation links are rate-limited per client address (``request.client``, which uvicorn
takes from X-Forwarded-For behind ``NEWSBOT_TRUSTED_PROXIES``) and for the whole site: over a limit the answer is
429 with ``Retry-After`` and a page saying when to try again. Confirmation emails go through the app's email
channel (:func:`bot.web.app_state.email_channel_of`): ``newsbot run`` passes the one its worker sends through.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from bot.app.config import Settings
from bot.app.errors import InvalidSubscriber, InvalidToken, NewsbotError, TopicNotFound
from bot.app.newsroom import Newsroom
from bot.channels import Channel
from bot.languages.catalogs import (
    N_,
    SOURCE_LANGUAGE,
    from_accept_language,
    language_name,
    languages,
    supported,
    translations,
)
from bot.languages.formatting import wait_phrase
from bot.languages.language_codes import language_code
from bot.languages.reader_errors import capitalised, error_text
from bot.outbox.reader_hours import InvalidQuietHours, UnknownZone, parse_minutes, parse_zone
from bot.readers.email_signup import ConfirmationNotSent, SignupThrottled, confirm_address, request_email_confirmation
from bot.readers.request_limits import TooManyRequests, client_key
from bot.readers.story_language_choice import offered_languages
from bot.readers.time_choice import NIGHT, likely_zones
from bot.rendering.signed_links import Purpose
from bot.web.app_state import chat_notices_of, email_channel_of, newsroom_of
from subscribers import email_readers, reader_languages, reader_time, readers, story_language_filters
from subscribers.preferences import parse_cadence
from subscribers.reader_time import ReaderTime
from subscribers.schema import ChannelName

router = APIRouter()
#: Old enough for any link: the language of an expired link's page is its reader's, though the link is refused.
_ANY_AGE = 100 * 365 * 86400


_CHANNEL_LABELS = {ChannelName.EMAIL.value: N_("Email"), ChannelName.TELEGRAM.value: "Telegram"}
_CADENCE_LABELS = (
    ("instant", N_("Every story, as it is published")),
    ("weekly", N_("A weekly digest")),
    ("off", N_("Nothing")),
)


def browser_language(request: Request, newsroom: Newsroom) -> str:
    """The first language the browser asks for (``Accept-Language``) that newsbot speaks, else the outlet's."""
    return from_accept_language(request.headers.get("accept-language"), newsroom.settings.default_language)


async def reader_language(request: Request, newsroom: Newsroom, subscriber_id: int) -> str:
    """A reader's stored language on their own pages; the browser's until they have one."""
    async with newsroom.reader.connect() as conn:
        stored = await reader_languages.language_of(conn, subscriber_id)
    return supported(stored) or browser_language(request, newsroom)


async def link_language(request: Request, newsroom: Newsroom, purpose: Purpose, token: str) -> str:
    """The language of a page about a personal link that did not work: its reader's when newsbot signed it (an
    expired or replaced link still says whose it is), else the browser's (a forged one says nothing)."""
    try:
        subscriber_id: int = newsroom.signer.verify(purpose, token, max_age=_ANY_AGE)["subscriber_id"]
    except InvalidToken:
        return browser_language(request, newsroom)
    return await reader_language(request, newsroom, subscriber_id)


def _page(
    newsroom: Newsroom,
    template: str,
    context: dict[str, Any],
    *,
    language: str = SOURCE_LANGUAGE,
    status: int = 200,
    personal: bool = True,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A rendered page with headers that keep tokens private: not cached, never sent on as a Referer, not framed.

    The signup flow (``personal=False``: the form and every answer to posting it) carries no token and may be
    framed, so that the outlet's site can embed it in an iframe and the reader sees "Check your inbox" there too.
    """
    html = newsroom.renderer.render(
        f"web/{template}",
        {
            "outlet_name": newsroom.settings.outlet_name,
            "public_url": newsroom.settings.public_url,
            "language": language,
            **context,
        },
    )
    policy = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'"
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Content-Language": language,
        "Vary": "Accept-Language",  # the signup flow, and a reader without a language of their own, get the browser's
        **(headers or {}),
    }
    if personal:
        headers["Cache-Control"] = "no-store"
        policy += "; frame-ancestors 'none'"
    headers["Content-Security-Policy"] = policy
    return HTMLResponse(html, status_code=status, headers=headers)


def _notice(
    newsroom: Newsroom,
    title: str,
    message: str,
    *,
    status: int = 200,
    links: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    personal: bool = True,
    language: str = SOURCE_LANGUAGE,
) -> HTMLResponse:
    """A page with a title, one message and links; *title*, *message* and the links' labels are already in
    *language*."""
    context = {"title": title, "message": message, "links": links or []}
    return _page(
        newsroom, "notice.html.j2", context, status=status, headers=headers, personal=personal, language=language
    )


def _sentence(problem: NewsbotError, language: str) -> str:
    """An error as a sentence on a page, in *language*: "This link has expired."."""
    return capitalised(error_text(problem, language)) + "."


def _bad_link(newsroom: Newsroom, problem: InvalidToken, language: str) -> HTMLResponse:
    _ = translations(language).gettext
    return _notice(
        newsroom,
        _("This link does not work"),
        _sentence(problem, language) + " " + _("Nothing was changed."),
        status=400,
        links=[("/subscribe", _("Sign up again"))],
        language=language,
    )


def _too_many(newsroom: Newsroom, refused: TooManyRequests, language: str, *, personal: bool = True) -> HTMLResponse:
    """429 with Retry-After, and a page that says in plain words what happened and how long to wait."""
    wait = wait_phrase(refused.retry_after, language)
    return _page(
        newsroom,
        "too_many_requests.html.j2",
        {"message": _sentence(refused, language), "wait": wait},
        status=429,
        headers={"Retry-After": str(refused.retry_after)},
        personal=personal,
        language=language,
    )


def client_of(request: Request) -> str | None:
    """Who is asking, for the rate limits: the client's address (IPv6 by its /64)."""
    return client_key(request.client.host if request.client else None)


# --- signup and confirmation -------------------------------------------------------------------------------


def _signup_form(
    newsroom: Newsroom,
    language: str,
    *,
    email: str = "",
    chosen: list[str] | None = None,
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    context = {"topics": list(newsroom.taxonomy), "email": email, "chosen": set(chosen or []), "error": error}
    return _page(newsroom, "subscribe.html.j2", context, status=status, personal=False, language=language)


@router.get("/subscribe", response_class=HTMLResponse)
async def subscribe_form(request: Request, newsroom: Newsroom = Depends(newsroom_of)) -> HTMLResponse:
    chosen = [t for t in request.query_params.getlist("topic") if t in newsroom.taxonomy]
    return _signup_form(newsroom, browser_language(request, newsroom), chosen=chosen)


@router.post("/subscribe", response_class=HTMLResponse)
async def subscribe(
    request: Request,
    newsroom: Newsroom = Depends(newsroom_of),
    channel: Channel = Depends(email_channel_of),
    email: str = Form(""),
    topic: list[str] = Form([]),
) -> HTMLResponse:
    language = browser_language(request, newsroom)
    _ = translations(language).gettext
    try:
        await request_email_confirmation(
            newsroom, channel, address=email, topics=topic, client=client_of(request), language=language
        )
    except TooManyRequests as refused:
        return _too_many(newsroom, refused, language, personal=False)
    except (InvalidSubscriber, TopicNotFound) as problem:
        error = error_text(problem, language)
        return _signup_form(newsroom, language, email=email, chosen=topic, error=error, status=400)
    except SignupThrottled as throttled:
        retry = {"Retry-After": str(throttled.retry_after)}
        message = _sentence(throttled, language)
        return _notice(
            newsroom, _("Check your inbox"), message, status=429, headers=retry, personal=False, language=language
        )
    except ConfirmationNotSent as unsent:
        message = _sentence(unsent, language)
        return _notice(newsroom, _("Please try again later"), message, status=503, personal=False, language=language)
    return _notice(
        newsroom,
        _("Check your inbox"),
        _(
            "We sent a confirmation link to the address you gave. Click it to start receiving news; until then you "
            "will get nothing else from us."
        ),
        personal=False,
        language=language,
    )


@router.get("/confirm/{token}", response_class=HTMLResponse)
async def confirm(token: str, request: Request, newsroom: Newsroom = Depends(newsroom_of)) -> HTMLResponse:
    try:
        confirmation = await confirm_address(newsroom, token, client=client_of(request))
    except TooManyRequests as refused:
        return _too_many(newsroom, refused, await link_language(request, newsroom, "confirm", token))
    except InvalidToken as problem:
        return _bad_link(newsroom, problem, await link_language(request, newsroom, "confirm", token))
    if (notices := chat_notices_of(request)) is not None:
        notices.acknowledge(confirmation)  # in the background: the reader's chat hears of it
    preferences = newsroom.signer.preferences_url(confirmation.subscriber_id)
    language = await reader_language(request, newsroom, confirmation.subscriber_id)
    _ = translations(language).gettext
    title = _("You are subscribed") if confirmation.newly_confirmed else _("You were already subscribed")
    return _notice(
        newsroom,
        title,
        _("%(address)s will receive news from %(outlet)s. By default that is a weekly digest of the topics you follow.")
        % {"address": confirmation.address, "outlet": newsroom.settings.outlet_name},
        links=[(preferences, _("Choose topics and how often"))],
        language=language,
    )


# --- unsubscribe -------------------------------------------------------------------------------------------


def _subscriber_of(request: Request, newsroom: Newsroom, purpose: Purpose, token: str) -> int | HTMLResponse:
    """The subscriber a personal link was signed for, or the friendly page for a forged or expired one."""
    try:
        subscriber_id: int = newsroom.signer.verify(purpose, token)["subscriber_id"]
    except InvalidToken as problem:  # these links never expire: the link says nothing, the browser the language
        return _bad_link(newsroom, problem, browser_language(request, newsroom))
    return subscriber_id


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe_page(token: str, request: Request, newsroom: Newsroom = Depends(newsroom_of)) -> HTMLResponse:
    subscriber_id = _subscriber_of(request, newsroom, "unsubscribe", token)
    if isinstance(subscriber_id, HTMLResponse):
        return subscriber_id
    async with newsroom.reader.connect() as conn:
        current = await email_readers.find_email_of_subscriber(conn, subscriber_id)
    context = {
        "address": current.address if current else "",
        "action": request.url.path,
        "preferences_url": newsroom.signer.preferences_url(subscriber_id),
    }
    language = await reader_language(request, newsroom, subscriber_id)
    return _page(newsroom, "unsubscribe.html.j2", context, language=language)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe(token: str, request: Request, newsroom: Newsroom = Depends(newsroom_of)) -> HTMLResponse:
    """One click, no questions: the form's button and RFC 8058 one-click POSTs both land here; idempotent."""
    subscriber_id = _subscriber_of(request, newsroom, "unsubscribe", token)
    if isinstance(subscriber_id, HTMLResponse):
        return subscriber_id
    async with newsroom.engine.begin() as conn:
        await email_readers.unsubscribe_email(conn, subscriber_id, newsroom.clock.now())
    language = await reader_language(request, newsroom, subscriber_id)
    _ = translations(language).gettext
    return _notice(
        newsroom,
        _("You are unsubscribed"),
        _("You will get no more emails from %(outlet)s. Changed your mind? You can sign up again at any time.")
        % {"outlet": newsroom.settings.outlet_name},
        links=[("/subscribe", _("Sign up again"))],
        language=language,
    )


# --- preferences -------------------------------------------------------------------------------------------


def _preferences_page(
    newsroom: Newsroom,
    reader: readers.ReaderPreferences,
    action: str,
    *,
    language: str,
    time: ReaderTime,
    story_languages: tuple[list[str], frozenset[str]],
    saved: bool = False,
    error: str = "",
    status: int = 200,
) -> HTMLResponse:
    offered, chosen = story_languages
    quiet = (time.quiet_from, time.quiet_until) if time.has_quiet_hours else NIGHT
    context = {
        "reader": reader,
        "time": time,
        "timezone": time.timezone or newsroom.settings.digest_timezone,
        "likely_zones": likely_zones(language, newsroom.settings, time.timezone),
        "quiet_from": f"{quiet[0] // 60:02d}:{quiet[0] % 60:02d}",
        "quiet_until": f"{quiet[1] // 60:02d}:{quiet[1] % 60:02d}",
        "topics": list(newsroom.taxonomy),
        "followed": set(reader.topics),
        "channels": [(_CHANNEL_LABELS.get(name, name), address) for name, address in reader.addresses.items()],
        "cadences": _CADENCE_LABELS,
        "languages": [(code, language_name(code)) for code in languages()],
        "story_languages": [(code, language_name(code)) for code in offered],
        "chosen_story_languages": chosen,
        "action": action,
        "unsubscribe_url": newsroom.signer.unsubscribe_url(reader.subscriber_id) if "email" in reader.addresses else "",
        "saved": saved,
        "error": error,
    }
    return _page(newsroom, "preferences.html.j2", context, status=status, language=language)


async def _reader_for(request: Request, newsroom: Newsroom, token: str) -> readers.ReaderPreferences | HTMLResponse:
    subscriber_id = _subscriber_of(request, newsroom, "preferences", token)
    if isinstance(subscriber_id, HTMLResponse):
        return subscriber_id
    async with newsroom.reader.connect() as conn:
        reader = await readers.load_reader_preferences(conn, subscriber_id)
    if reader is None:
        language = browser_language(request, newsroom)  # the reader is gone, and their language with them
        _ = translations(language).gettext
        return _notice(
            newsroom,
            _("No subscription here"),
            _("We have no subscription for this link any more."),
            status=404,
            links=[("/subscribe", _("Sign up"))],
            language=language,
        )
    return reader


@router.get("/preferences/{token}", response_class=HTMLResponse)
async def preferences_page(token: str, request: Request, newsroom: Newsroom = Depends(newsroom_of)) -> HTMLResponse:
    reader = await _reader_for(request, newsroom, token)
    if isinstance(reader, HTMLResponse):
        return reader
    language = await reader_language(request, newsroom, reader.subscriber_id)
    time = await _time_of(newsroom, reader.subscriber_id)
    chosen = await _story_languages_of(newsroom, reader.subscriber_id)
    return _preferences_page(newsroom, reader, request.url.path, language=language, time=time, story_languages=chosen)


async def _story_languages_of(
    newsroom: Newsroom, subscriber_id: int, chosen: frozenset[str] | None = None
) -> tuple[list[str], frozenset[str]]:
    """The story languages the page offers, and those the reader chose (*chosen*, else as stored)."""
    if chosen is None:
        async with newsroom.reader.connect() as conn:
            chosen = await story_language_filters.story_languages_of(conn, subscriber_id)
    return await offered_languages(newsroom, chosen), chosen


def _story_languages_from(form: FormData) -> frozenset[str]:
    """The ticked story languages (none: every language); InvalidSubscriber naming the field for a code that names
    no language."""
    chosen = set()
    for value in form.getlist("story_language"):
        code = language_code(str(value))
        if code is None:
            raise InvalidSubscriber(
                N_("story_language: '%(code)s' is not a language code such as en, de, es or fr"), code=str(value)[:40]
            )
        chosen.add(code)
    return frozenset(chosen)


async def _time_of(newsroom: Newsroom, subscriber_id: int) -> ReaderTime:
    async with newsroom.reader.connect() as conn:
        return await reader_time.reader_time(conn, subscriber_id)


def _time_from(form: FormData, settings: Settings) -> ReaderTime:
    """The form's time zone and quiet hours; UnknownZone or InvalidQuietHours naming the field."""
    typed = str(form.get("timezone", "")).strip()
    zone = parse_zone(typed) if typed else None
    if form.get("quiet") != "on":
        return ReaderTime(None if zone == settings.digest_timezone else zone)
    start = parse_minutes(str(form.get("quiet_from", "")), "quiet_from")
    end = parse_minutes(str(form.get("quiet_until", "")), "quiet_until")
    return ReaderTime(
        None if zone == settings.digest_timezone else zone, start, end, form.get("quiet_breaking") == "wait"
    )


@router.post("/preferences/{token}", response_class=HTMLResponse)
async def save_preferences(token: str, request: Request, newsroom: Newsroom = Depends(newsroom_of)) -> HTMLResponse:
    reader = await _reader_for(request, newsroom, token)
    if isinstance(reader, HTMLResponse):
        return reader
    form = await request.form()
    topics = [str(value) for value in form.getlist("topic")]
    language = await reader_language(request, newsroom, reader.subscriber_id)
    chosen_language = supported(str(form.get("language", language)))
    time = await _time_of(newsroom, reader.subscriber_id)
    try:
        try:
            chosen_time = _time_from(form, newsroom.settings)
            story_languages = _story_languages_from(form)
        except UnknownZone as problem:
            raise InvalidSubscriber(N_("timezone: %(problem)s"), problem=problem) from None
        if chosen_language is None:
            raise InvalidSubscriber(N_("language: choose one of %(choices)s"), choices=", ".join(languages()))
        unknown = [t for t in topics if t not in newsroom.taxonomy]
        if unknown:
            raise TopicNotFound(unknown[0])
        cadences = {
            channel: parse_cadence(str(form.get(f"cadence_{channel}", address.cadence)))
            for channel, address in reader.addresses.items()
        }
    except (InvalidSubscriber, TopicNotFound, InvalidQuietHours) as problem:
        return _preferences_page(
            newsroom,
            reader,
            request.url.path,
            language=language,
            time=time,
            story_languages=await _story_languages_of(newsroom, reader.subscriber_id),
            error=error_text(problem, language),
            status=400,
        )
    async with newsroom.engine.begin() as conn:
        await readers.save_reader_preferences(
            conn,
            reader.subscriber_id,
            topics=list(dict.fromkeys(topics)),
            cadences=cadences,
            breaking_email=form.get("breaking_email") == "on",
            now=newsroom.clock.now(),
        )
        await reader_languages.set_language(conn, reader.subscriber_id, chosen_language)
        await reader_time.set_reader_time(conn, reader.subscriber_id, chosen_time)
        await story_language_filters.set_story_languages(conn, reader.subscriber_id, story_languages)
        updated = await readers.load_reader_preferences(conn, reader.subscriber_id)
    assert updated is not None
    return _preferences_page(
        newsroom,
        updated,
        request.url.path,
        language=chosen_language,
        time=chosen_time,
        story_languages=await _story_languages_of(newsroom, reader.subscriber_id, story_languages),
        saved=True,
    )
