"""A local Telegram Bot API server that python-telegram-bot talks to over real HTTP.

Tests exercise the real client stack (PTB's request layer, its error parsing, httpx pooling) instead of
mocking `Bot`, and inject Telegram's failure modes with the real response shapes: flood control (429 with
`retry_after`), blocked users (403), unknown chats (400), group-to-supergroup migration (400 with
`migrate_to_chat_id`) and HTML that Telegram refuses to parse.

    async with FakeBotAPI() as api:
        settings = Settings(telegram_api_url=api.base_url, telegram_token="123:ABC")

The handler stays light (no per-request allocation beyond the parsed parameters and the answer) so that
a benchmark can push about a thousand messages a second through it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.telegram_html import EntityParseError, parse_html

MAX_MESSAGE_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
#: The sizes Telegram answers a sendPhoto with (it scales every photo to these): (suffix, width, height, bytes).
_PHOTO_SIZES = (("s", 90, 60, 1_203), ("m", 320, 213, 14_882), ("x", 800, 533, 61_054), ("y", 1280, 853, 132_518))
#: Form fields that are always plain strings, even when they look like JSON ("text=123").
_STRING_FIELDS = frozenset(
    {
        "text",
        "parse_mode",
        "caption",
        "url",
        "callback_query_id",
        "inline_message_id",
        "secret_token",
        "language_code",
        "emoji",
        "business_connection_id",
        "ip_address",
    }
)
_ID_FIELDS = ("chat_id", "user_id", "message_id", "offset", "limit", "timeout", "from_chat_id")
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: injected failure",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

Params = dict[str, Any]


class SentMessage(NamedTuple):
    """One accepted sendMessage call, as the client sent it (the raw HTML, not the parsed text)."""

    chat_id: int | str
    text: str
    parse_mode: str | None


#: How long after sending a bot may still delete a message for everyone (Bot API deleteMessage).
DELETE_WINDOW_SECONDS = 48 * 3600


class ApiError(Exception):
    """An error answer in the Bot API's shape; raised inside method handlers."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


@dataclass(slots=True)
class _Failure:
    code: int
    description: str
    parameters: dict[str, Any] | None
    times: int


class FakeBotAPI:
    """Telegram Bot API on 127.0.0.1, served by uvicorn inside the caller's event loop.

    Inspection: `calls` (method, params) for every request, `sent_messages` for accepted sends (only the fake
    appends to it) and `accepted_at` (their time on the server's `clock`, `time.monotonic` unless a test sets another),
    `sent_to(chat_id)`, `messages` keyed by (chat_id, message_id), `too_many_requests` (429s answered) and
    `too_many_at` (when). `GET /stats` answers these counts as JSON, for a fake running in its own process, and
    `GET /accepted?text=...` the `accepted_at` of the sends whose text contains that text.
    Injection: `block`, `deactivate`, `forget`, `migrate`, `fail_next`, `rate_limit`, `delay`,
    `set_member_status`, `push_update` / `push_message` / `push_callback_query`, `push_malformed_message`,
    `add_file` (served by getFile and the file route) and `push_document`. Scoped setMyCommands calls are kept
    apart in `scoped_commands`, those for one app language in `localized_commands`. Edits change `messages` in
    place (`text_of`), deleteMessage moves a message to `deleted` and refuses one older than 48 hours
    (`age_message` makes one older), and a send's ``reply_parameters`` are kept as its ``reply_to_message`` and in
    `replies`.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        strict_ampersand: bool = True,
        bot_username: str = "newsbot_test_bot",
    ) -> None:
        self.expected_token = token  # None accepts any token, as the tests rarely care
        self.host = host
        self.port = port
        self.strict_ampersand = strict_ampersand
        self.bot_username = bot_username

        self.calls: list[tuple[str, Params]] = []
        self.sent_messages: list[SentMessage] = []
        #: The texts of `sent_messages` by chat: tests poll `sent_to` for hundreds of readers while the bot sends.
        self._texts_by_chat: dict[int | str, list[str]] = {}
        self.accepted_at: list[float] = []
        self.too_many_at: list[float] = []
        self.messages: dict[tuple[int | str, int], dict[str, Any]] = {}
        #: Messages users sent (pushed updates), which the bot may reply to like its own.
        self.received: dict[tuple[int | str, int], dict[str, Any]] = {}
        self.too_many_requests = 0
        #: Sent messages that replied to another (``reply_parameters``): (chat_id, message_id) -> the replied id.
        self.replies: dict[tuple[int | str, int], int] = {}
        #: Messages removed by deleteMessage, keyed like `messages`.
        self.deleted: dict[tuple[int | str, int], dict[str, Any]] = {}
        self.commands: list[Any] = []
        #: setMyCommands calls with a scope other than the default, keyed by the scope's JSON (sorted keys).
        self.scoped_commands: dict[str, list[Any]] = {}
        #: Menus registered for users of one app language: (scope key or None, language_code) -> commands.
        self.localized_commands: dict[tuple[str | None, str], list[Any]] = {}
        #: Files the bot may fetch with getFile, by file_id: (file_path, content).
        self.files: dict[str, tuple[str, bytes]] = {}
        #: Accepted sendPhoto calls: (chat_id, the photo as sent, the caption as sent); also in `sent_messages`.
        self.sent_photos: list[tuple[int | str, str, str | None]] = []
        self.webhook_url = ""

        self.chats: dict[int | str, dict[str, Any]] = {}
        self.blocked: set[int | str] = set()
        self.deactivated: set[int | str] = set()
        self.forgotten: set[int | str] = set()
        self.migrated: dict[int | str, int] = {}
        self.member_status: dict[tuple[int | str, int], str] = {}
        self.delays: dict[str, float] = {}
        self.holds: dict[str, asyncio.Event] = {}

        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        self._per_second: int | None = None
        self._per_chat_per_second: int | None = None
        self._per_group: tuple[int, float] | None = None
        self._paid_per_second = 1000
        self._paid_window: deque[float] = deque()
        self._window: deque[float] = deque()
        self._chat_windows: dict[int | str, deque[float]] = defaultdict(deque)
        #: What the flood windows and `accepted_at` read; a test of the windows themselves moves a fake one.
        self.clock: Callable[[], float] = time.monotonic
        self._message_ids: dict[int | str, int] = defaultdict(int)
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._updates_changed = asyncio.Event()
        self._callback_ids = 0
        self._closing = False

        self._methods: dict[str, Callable[[Params, str], Awaitable[Any]]] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "sendmessage": self._send_message,
            "sendphoto": self._send_photo,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "editmessagecaption": self._edit_message_caption,
            "deletemessage": self._delete_message,
            "getfile": self._get_file,
            "answercallbackquery": self._true,
            "getchatmember": self._get_chat_member,
            "setmycommands": self._set_my_commands,
            "deletemycommands": self._delete_my_commands,
            "getmycommands": self._get_my_commands,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "close": self._true,
            "logout": self._true,
        }
        self.app = Starlette(
            routes=[
                Route("/stats", self._stats, methods=["GET"]),
                Route("/accepted", self._accepted, methods=["GET"]),
                Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"]),
                Route("/file/bot{token}/{file_path:path}", self._download, methods=["GET"]),
            ]
        )
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API root, as `Settings.telegram_api_url` expects it (no trailing `/bot`)."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto says
        # TCP, and without it Nagle plus delayed ACKs cost 40 ms per request.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=1,
            backlog=1024,
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # re-raise the start-up failure
                raise RuntimeError("fake Bot API server stopped during start-up")
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        self._closing = True
        self._updates_changed.set()  # release long polls so shutdown does not wait for their timeout
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            self._server.exit_event.set()
            await self._task
        self._server = self._task = None

    async def __aenter__(self) -> FakeBotAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- injection ---------------------------------------------------------------------------------

    def add_chat(self, chat_id: int | str, **fields: Any) -> None:
        """Override the Chat object the server reports (type, title, username...)."""
        self.chats[chat_id] = {**self._chat(chat_id), **fields}

    def block(self, chat_id: int) -> None:
        """The user blocked the bot (or the bot was kicked from the group): 403 on every send."""
        self.blocked.add(chat_id)

    def deactivate(self, chat_id: int) -> None:
        """The user deleted their account: 403 "Forbidden: user is deactivated"."""
        self.deactivated.add(chat_id)

    def forget(self, chat_id: int) -> None:
        """The chat does not exist for this bot: 400 "Bad Request: chat not found"."""
        self.forgotten.add(chat_id)

    def migrate(self, chat_id: int, new_id: int | None = None) -> int:
        """The group became a supergroup; sends to the old id answer 400 with `migrate_to_chat_id`."""
        if new_id is None:
            new_id = int(f"-100{abs(chat_id)}")
        self.migrated[chat_id] = new_id
        return new_id

    def fail_next(
        self,
        method: str,
        code: int = 429,
        *,
        retry_after: int = 1,
        times: int = 1,
        description: str | None = None,
    ) -> None:
        """Answer the next `times` calls of `method` with an error (429 carries `retry_after`)."""
        parameters = {"retry_after": retry_after} if code == 429 else None
        if description is None:
            description = (
                f"Too Many Requests: retry after {retry_after}"
                if code == 429
                else _DEFAULT_DESCRIPTIONS.get(code, "Internal Server Error")
            )
        self._failures[method.lower()].append(_Failure(code, description, parameters, times))

    def rate_limit(
        self,
        per_second: int | None = 30,
        *,
        per_chat_per_second: int | None = None,
        per_group: tuple[int, float] | None = None,
        paid_per_second: int = 1000,
    ) -> None:
        """Enforce Telegram-like flood control on sendMessage over sliding windows.

        `per_second` counts every send without `allow_paid_broadcast`; paid sends count against
        `paid_per_second` instead. `per_chat_per_second` limits each chat; `per_group` = (messages,
        seconds) limits each group or channel (negative or @name chat ids) on top, e.g. (20, 60.0).
        Only accepted sends count; above a limit the answer is 429 with retry_after=1. `None`
        switches a limit off.
        """
        self._per_second = per_second
        self._per_chat_per_second = per_chat_per_second
        self._per_group = per_group
        self._paid_per_second = paid_per_second
        self._window.clear()
        self._paid_window.clear()
        self._chat_windows.clear()

    def delay(self, method: str, seconds: float) -> None:
        """Answer `method` only after `seconds`, to exercise client timeouts or simulate latency."""
        self.delays[method.lower()] = seconds

    def hold(self, method: str) -> asyncio.Event:
        """Answer `method` only once the returned event is set: its calls (already in `calls`) stay in flight, so a
        test can land something while they are, without timing it."""
        return self.holds.setdefault(method.lower(), asyncio.Event())

    def set_member_status(self, chat_id: int, user_id: int, status: str) -> None:
        """What getChatMember reports: creator, administrator, member, restricted, left or kicked."""
        self.member_status[(chat_id, user_id)] = status

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an Update for getUpdates (an `update_id` is assigned if missing) and wake long polls."""
        update = dict(update)
        if "update_id" not in update:
            update["update_id"] = self._next_update_id
        self._next_update_id = max(self._next_update_id, int(update["update_id"])) + 1
        for kind in ("message", "channel_post"):
            message = update.get(kind)
            if isinstance(message, dict) and isinstance(message.get("chat"), dict):  # a malformed one may not be
                self.received[(message["chat"].get("id"), message.get("message_id"))] = message
        self._updates.append(update)
        self._wake_pollers()
        return update

    def push_message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        first_name: str = "Reader",
        language_code: str | None = None,
    ) -> dict[str, Any]:
        """Queue a text message from a user, with a bot_command entity when it starts with "/"; *language_code* is
        the language of the user's app, as Telegram sends it."""
        message = self._text_message(chat_id, text, user_id, first_name)
        if language_code is not None:
            message["from"]["language_code"] = language_code
        return self.push_update({"message": message})

    def push_malformed_message(self, chat_id: int, text: str, **broken: Any) -> dict[str, Any]:
        """Queue a message in the real JSON shape except for the *broken* fields, e.g. ``date="yesterday"``.

        Telegram's own updates always parse, but a Bot API newer than the client (or a proxy in between) can
        send a field of a type python-telegram-bot does not expect; this is how a test sends one.
        """
        return self.push_update({"message": self._text_message(chat_id, text, None, "Reader") | broken})

    def _text_message(self, chat_id: int, text: str, user_id: int | None, first_name: str) -> dict[str, Any]:
        user_id = user_id if user_id is not None else (chat_id if chat_id > 0 else 1000)
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "from": {"id": user_id, "is_bot": False, "first_name": first_name},
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return message

    def push_callback_query(
        self, chat_id: int, message_id: int, data: str, *, user_id: int | None = None
    ) -> dict[str, Any]:
        """Queue a button press on a message the bot sent earlier."""
        user_id = user_id if user_id is not None else (chat_id if chat_id > 0 else 1000)
        self._callback_ids += 1
        message = self.messages.get((chat_id, message_id)) or {
            "message_id": message_id,
            "chat": self._chat(chat_id),
            "date": int(time.time()),
        }
        return self.push_update(
            {
                "callback_query": {
                    "id": str(self._callback_ids),
                    "from": {"id": user_id, "is_bot": False, "first_name": "Reader"},
                    "message": message,
                    "chat_instance": str(chat_id),
                    "data": data,
                }
            }
        )

    def add_file(self, content: bytes, *, file_name: str, mime_type: str = "text/plain") -> dict[str, Any]:
        """Make *content* downloadable (getFile, then the file route); returns its Document object."""
        number = len(self.files) + 1
        file_id = f"BQACAgIAAxkBAAIB{number:06d}"
        self.files[file_id] = (f"documents/file_{number}{_suffix(file_name)}", content)
        return {
            "file_name": file_name,
            "mime_type": mime_type,
            "file_id": file_id,
            "file_unique_id": f"AgAD{number:06d}",
            "file_size": len(content),
        }

    def push_document(
        self, chat_id: int, document: dict[str, Any], *, caption: str | None = None, user_id: int | None = None
    ) -> dict[str, Any]:
        """Queue a message carrying a file (a Document object, e.g. from `add_file`) and an optional caption."""
        message = self._text_message(chat_id, "", user_id, "Reader")
        del message["text"]
        message["document"] = document
        if caption is not None:
            message["caption"] = caption
        return self.push_update({"message": message})

    # -- inspection --------------------------------------------------------------------------------

    def age_message(self, chat_id: int | str, message_id: int, *, hours: float) -> None:
        """Make a stored message *hours* older (its ``date``), e.g. past the 48 hours in which it can be deleted."""
        self.messages[(chat_id, message_id)]["date"] -= int(hours * 3600)

    def text_of(self, chat_id: int | str, message_id: int) -> str | None:
        """The current plain text (or caption) of a message, after any edits; None once deleted or never sent."""
        stored = self.messages.get((chat_id, message_id))
        return None if stored is None else stored.get("text", stored.get("caption"))

    def sent_to(self, chat_id: int | str) -> list[str]:
        """The texts (as sent, HTML included) of accepted messages to one chat, oldest first."""
        return list(self._texts_by_chat.get(chat_id, ()))

    def _record(self, sent: SentMessage) -> None:
        self.sent_messages.append(sent)
        self._texts_by_chat.setdefault(sent.chat_id, []).append(sent.text)

    def calls_to(self, method: str) -> list[Params]:
        return [params for name, params in self.calls if name.lower() == method.lower()]

    # -- HTTP --------------------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        token = request.path_params["token"]
        method = request.path_params["method"]
        try:
            params = await _read_params(request)
        except ClientDisconnect:  # the client died mid-request (a crash test kills it on purpose)
            return Response(status_code=499)
        self.calls.append((method, params))
        key = method.lower()
        if self.expected_token is not None and token != self.expected_token:
            return _error(401, "Unauthorized")
        if key in self.delays:
            await asyncio.sleep(self.delays[key])
        if key in self.holds:
            await self.holds[key].wait()
        failures = self._failures.get(key)
        if failures:
            failure = failures[0]
            failure.times -= 1
            if failure.times <= 0:
                failures.popleft()
            if failure.code == 429:
                self._count_too_many()
            return _error(failure.code, failure.description, failure.parameters)
        handler = self._methods.get(key)
        if handler is None:
            return _error(404, "Not Found")
        try:
            result = await handler(params, token)
        except ApiError as exc:
            if exc.code == 429:
                self._count_too_many()
            return _error(exc.code, exc.description, exc.parameters)
        return Response(_dumps({"ok": True, "result": result}), media_type="application/json")

    def _count_too_many(self) -> None:
        self.too_many_requests += 1
        self.too_many_at.append(self.clock())

    async def _stats(self, request: Request) -> Response:
        stats = {
            "sent": len(self.sent_messages),
            "too_many_requests": self.too_many_requests,
            "calls": len(self.calls),
            "first_accepted_at": self.accepted_at[0] if self.accepted_at else None,
            "last_accepted_at": self.accepted_at[-1] if self.accepted_at else None,
        }
        return Response(_dumps(stats), media_type="application/json")

    async def _accepted(self, request: Request) -> Response:
        """When each accepted message containing ``?text=`` arrived, on `clock`: who was reached, and when."""
        text = request.query_params.get("text", "")
        times = [at for at, sent in zip(self.accepted_at, self.sent_messages, strict=True) if text in (sent.text or "")]
        return Response(_dumps(times), media_type="application/json")

    # -- methods -----------------------------------------------------------------------------------

    async def _true(self, params: Params, token: str) -> bool:
        return True

    async def _get_me(self, params: Params, token: str) -> dict[str, Any]:
        return {
            **self._bot_user(token),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _send_message(self, params: Params, token: str) -> dict[str, Any]:
        chat_id = self._reachable_chat(params)
        overall = self._paid_window if params.get("allow_paid_broadcast") is True else self._window
        self._check_flood(chat_id, overall)
        text = params.get("text")
        parse_mode = params.get("parse_mode") or None
        plain, entities = self._parse(text, parse_mode, params)
        now = self.clock()
        if self._per_second is not None:
            overall.append(now)
        if self._per_chat_per_second is not None or self._per_group is not None:
            self._chat_windows[chat_id].append(now)
        reply = params.get("reply_parameters")
        replied: dict[str, Any] | None = None
        if isinstance(reply, dict):
            key = (reply.get("chat_id", chat_id), reply.get("message_id"))
            replied = self.messages.get(key) or self.received.get(key)  # type: ignore[arg-type]
            if replied is None and not reply.get("allow_sending_without_reply"):
                raise ApiError(400, "Bad Request: message to be replied not found")
        self.accepted_at.append(now)
        message = self._message(token, chat_id, self._next_message_id(chat_id), plain, entities, params)
        if replied is not None:
            message["reply_to_message"] = {key: value for key, value in replied.items() if key != "reply_to_message"}
        self.messages[(chat_id, message["message_id"])] = message
        if replied is not None:
            self.replies[(chat_id, message["message_id"])] = replied["message_id"]
        self._record(SentMessage(chat_id, text, parse_mode))  # type: ignore[arg-type]
        return message

    async def _send_photo(self, params: Params, token: str) -> dict[str, Any]:
        """sendPhoto by URL or file_id: the answer carries Telegram's array of sizes, the caption and its entities."""
        chat_id = self._reachable_chat(params)
        overall = self._paid_window if params.get("allow_paid_broadcast") is True else self._window
        self._check_flood(chat_id, overall)
        photo = params.get("photo")
        if not isinstance(photo, str) or not photo:
            raise ApiError(400, "Bad Request: there is no photo in the request")
        caption = params.get("caption")
        plain, entities = "", []
        if caption:
            plain, entities = self._parse(caption, params.get("parse_mode"), params)
            if len(plain) > MAX_CAPTION_LENGTH:
                raise ApiError(400, "Bad Request: message caption is too long")
        now = self.clock()
        if self._per_second is not None:
            overall.append(now)
        if self._per_chat_per_second is not None or self._per_group is not None:
            self._chat_windows[chat_id].append(now)
        self.accepted_at.append(now)
        message = self._message(token, chat_id, self._next_message_id(chat_id), "", [], params)
        del message["text"]
        number = len(self.sent_photos) + 1
        message["photo"] = [
            {
                "file_id": f"AgACAgIAAxkBAAIC{number:06d}{suffix}",
                "file_unique_id": f"AQAD{number:06d}{suffix}",
                "file_size": size,
                "width": width,
                "height": height,
            }
            for suffix, width, height, size in _PHOTO_SIZES
        ]
        if plain:
            message["caption"] = plain
        if entities:
            message["caption_entities"] = entities
        self.messages[(chat_id, message["message_id"])] = message
        self.sent_photos.append((chat_id, photo, caption))
        self._record(SentMessage(chat_id, caption or "", params.get("parse_mode") or None))
        return message

    async def _edit_message_text(self, params: Params, token: str) -> dict[str, Any] | bool:
        if params.get("inline_message_id"):
            self._parse(params.get("text"), params.get("parse_mode"), params)
            return True
        chat_id = self._reachable_chat(params)
        stored = self.messages.get((chat_id, params.get("message_id")))  # type: ignore[arg-type]
        if stored is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if "text" not in stored:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        plain, entities = self._parse(params.get("text"), params.get("parse_mode"), params)
        markup = params.get("reply_markup")
        if plain == stored["text"] and entities == stored.get("entities", []) and markup == stored.get("reply_markup"):
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply markup "
                "are exactly the same as a current content and reply markup of the message",
            )
        edited = self._message(token, chat_id, stored["message_id"], plain, entities, params)
        edited["date"] = stored["date"]
        edited["edit_date"] = int(time.time())
        self.messages[(chat_id, stored["message_id"])] = edited
        return edited

    async def _edit_message_reply_markup(self, params: Params, token: str) -> dict[str, Any] | bool:
        if params.get("inline_message_id"):
            return True
        chat_id = self._reachable_chat(params)
        stored = self.messages.get((chat_id, params.get("message_id")))  # type: ignore[arg-type]
        if stored is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        markup = params.get("reply_markup") or None
        if markup == stored.get("reply_markup"):
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply markup "
                "are exactly the same as a current content and reply markup of the message",
            )
        edited = {key: value for key, value in stored.items() if key != "reply_markup"}
        if markup:
            edited["reply_markup"] = markup
        edited["edit_date"] = int(time.time())
        self.messages[(chat_id, stored["message_id"])] = edited
        return edited

    async def _edit_message_caption(self, params: Params, token: str) -> dict[str, Any] | bool:
        if params.get("inline_message_id"):
            return True
        chat_id = self._reachable_chat(params)
        stored = self.messages.get((chat_id, params.get("message_id")))  # type: ignore[arg-type]
        if stored is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if "text" in stored:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        caption = params.get("caption") or ""
        plain, entities = self._parse(caption, params.get("parse_mode"), params) if caption else ("", [])
        if len(plain) > MAX_CAPTION_LENGTH:
            raise ApiError(400, "Bad Request: message caption is too long")
        markup = params.get("reply_markup") or None
        if (
            plain == stored.get("caption", "")
            and entities == stored.get("caption_entities", [])
            and markup == stored.get("reply_markup")
        ):
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply markup "
                "are exactly the same as a current content and reply markup of the message",
            )
        # As in Telegram, an edit without reply_markup takes the message's buttons away.
        dropped = ("caption", "caption_entities", "reply_markup")
        edited = {key: value for key, value in stored.items() if key not in dropped}
        if plain:
            edited["caption"] = plain
        if entities:
            edited["caption_entities"] = entities
        if markup:
            edited["reply_markup"] = markup
        edited["edit_date"] = int(time.time())
        self.messages[(chat_id, stored["message_id"])] = edited
        return edited

    async def _delete_message(self, params: Params, token: str) -> bool:
        chat_id = self._reachable_chat(params)
        key = (chat_id, params.get("message_id"))
        stored = self.messages.get(key)  # type: ignore[arg-type]
        if stored is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        if time.time() - stored["date"] > DELETE_WINDOW_SECONDS:
            raise ApiError(400, "Bad Request: message can't be deleted for everyone")
        self.deleted[key] = self.messages.pop(key)  # type: ignore[arg-type]
        return True

    async def _get_file(self, params: Params, token: str) -> dict[str, Any]:
        file_id = str(params.get("file_id") or "")
        if file_id not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        file_path, content = self.files[file_id]
        return {
            "file_id": file_id,
            "file_unique_id": f"AgAD{file_id[-6:]}",
            "file_size": len(content),
            "file_path": file_path,
        }

    async def _download(self, request: Request) -> Response:
        """The Bot API's file route: GET /file/bot<token>/<file_path>."""
        if self.expected_token is not None and request.path_params["token"] != self.expected_token:
            return _error(401, "Unauthorized")
        self.calls.append(("file", {"file_path": request.path_params["file_path"]}))
        for file_path, content in self.files.values():
            if file_path == request.path_params["file_path"]:
                return Response(content, media_type="application/octet-stream")
        return _error(404, "Not Found")

    async def _get_chat_member(self, params: Params, token: str) -> dict[str, Any]:
        chat_id = self._reachable_chat(params)
        user_id = params.get("user_id")
        if not isinstance(user_id, int):
            raise ApiError(400, "Bad Request: invalid user_id specified")
        status = self.member_status.get((chat_id, user_id), "member")
        return _chat_member(status, {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"})

    async def _set_my_commands(self, params: Params, token: str) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse BotCommand array: JSON array expected")
        scope = _scope_key(params.get("scope"))
        language = params.get("language_code")
        if language:
            self.localized_commands[(scope, str(language))] = commands
        elif scope is None:
            self.commands = commands
        else:
            self.scoped_commands[scope] = commands
        return True

    async def _delete_my_commands(self, params: Params, token: str) -> bool:
        scope = _scope_key(params.get("scope"))
        if scope is None:
            self.commands = []
        else:
            self.scoped_commands.pop(scope, None)
        return True

    async def _get_my_commands(self, params: Params, token: str) -> list[Any]:
        scope = _scope_key(params.get("scope"))
        return self.commands if scope is None else self.scoped_commands.get(scope, [])

    async def _set_webhook(self, params: Params, token: str) -> bool:
        self.webhook_url = str(params.get("url", ""))
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _delete_webhook(self, params: Params, token: str) -> bool:
        self.webhook_url = ""
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _get_webhook_info(self, params: Params, token: str) -> dict[str, Any]:
        return {"url": self.webhook_url, "has_custom_certificate": False, "pending_update_count": len(self._updates)}

    async def _get_updates(self, params: Params, token: str) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
                "delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = float(params.get("timeout") or 0)
        if offset > 0:
            self._updates = [update for update in self._updates if update["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        if not self._updates and timeout > 0 and not self._closing:
            changed = self._updates_changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout)
        return self._updates[:limit]

    # -- helpers -----------------------------------------------------------------------------------

    def _wake_pollers(self) -> None:
        self._updates_changed.set()
        self._updates_changed = asyncio.Event()

    def _bot_user(self, token: str) -> dict[str, Any]:
        prefix = token.split(":", 1)[0]
        return {
            "id": int(prefix) if prefix.isdigit() else 1,
            "is_bot": True,
            "first_name": "Newsbot",
            "username": self.bot_username,
        }

    def _chat(self, chat_id: int | str) -> dict[str, Any]:
        known = self.chats.get(chat_id)
        if known is not None:
            return known
        if isinstance(chat_id, str):
            return {"id": -1001, "type": "channel", "title": chat_id, "username": chat_id.lstrip("@")}
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"Reader {chat_id}"}
        if str(chat_id).startswith("-100"):
            return {"id": chat_id, "type": "supergroup", "title": f"Supergroup {chat_id}"}
        return {"id": chat_id, "type": "group", "title": f"Group {chat_id}"}

    def _next_message_id(self, chat_id: int | str) -> int:
        self._message_ids[chat_id] += 1
        return self._message_ids[chat_id]

    def _reachable_chat(self, params: Params) -> int | str:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        if isinstance(chat_id, str) and not (chat_id.startswith("@") and chat_id in self.chats):
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id in self.migrated:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self.migrated[chat_id]},
            )
        if chat_id in self.forgotten:
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id in self.deactivated:
            raise ApiError(403, "Forbidden: user is deactivated")
        if chat_id in self.blocked:
            chat_type = self._chat(chat_id)["type"]
            raise ApiError(
                403,
                {
                    "private": "Forbidden: bot was blocked by the user",
                    "group": "Forbidden: bot was kicked from the group chat",
                    "supergroup": "Forbidden: bot was kicked from the supergroup chat",
                }.get(chat_type, "Forbidden: bot is not a member of the channel chat"),
            )
        return chat_id

    def _check_flood(self, chat_id: int | str, overall: deque[float]) -> None:
        now = self.clock()
        if self._per_second is not None:
            limit = self._paid_per_second if overall is self._paid_window else self._per_second
            while overall and overall[0] <= now - 1.0:
                overall.popleft()
            if len(overall) >= limit:
                raise _flood()
        chat_limits = []
        if self._per_chat_per_second is not None:
            chat_limits.append((self._per_chat_per_second, 1.0))
        if self._per_group is not None and (isinstance(chat_id, str) or chat_id < 0):
            chat_limits.append(self._per_group)
        if not chat_limits:
            return
        window = self._chat_windows[chat_id]
        horizon = now - max(seconds for _, seconds in chat_limits)
        while window and window[0] <= horizon:
            window.popleft()
        for limit, seconds in chat_limits:
            if sum(1 for at in window if at > now - seconds) >= limit:
                raise _flood()

    def _parse(self, text: Any, parse_mode: Any, params: Params) -> tuple[str, list[Any]]:
        if not isinstance(text, str) or not text:
            raise ApiError(400, "Bad Request: message text is empty")
        if isinstance(parse_mode, str) and parse_mode.lower() == "html":
            try:
                plain, entities = parse_html(text, strict_ampersand=self.strict_ampersand)
            except EntityParseError as exc:
                raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
        else:
            # Markdown modes are passed through unvalidated; the project only sends HTML.
            plain, entities = text, list(params.get("entities") or [])
        if not plain.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(plain) > MAX_MESSAGE_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        return plain, entities

    def _message(
        self,
        token: str,
        chat_id: int | str,
        message_id: int,
        text: str,
        entities: list[Any],
        params: Params,
    ) -> dict[str, Any]:
        chat = self._chat(chat_id)
        message: dict[str, Any] = {"message_id": message_id}
        if chat["type"] == "channel":
            message["sender_chat"] = chat
        else:
            message["from"] = self._bot_user(token)
        message["chat"] = chat
        message["date"] = int(time.time())
        message["text"] = text
        if entities:
            message["entities"] = entities
        if params.get("link_preview_options"):
            message["link_preview_options"] = params["link_preview_options"]
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        return message


def _scope_key(scope: Any) -> str | None:
    """A BotCommandScope as a dictionary key; None for the default scope (none given, or type "default")."""
    if not scope or (isinstance(scope, dict) and scope.get("type") == "default"):
        return None
    return json.dumps(scope, sort_keys=True, separators=(",", ":"))


def _suffix(file_name: str) -> str:
    dot = file_name.rfind(".")
    return file_name[dot:] if dot > 0 else ""


def _flood() -> ApiError:
    return ApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1})


class _Server(uvicorn.Server):
    """uvicorn without signal capture (it must not steal Ctrl+C from pytest) and with a prompt exit.

    The stock main loop polls `should_exit` every 0.1 s and the stock shutdown sleeps another 0.1 s;
    with one server per test that is most of a test run, so both wait on events instead.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.exit_event = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def main_loop(self) -> None:
        await self.on_tick(0)  # sets the Date/Server default headers once
        await self.exit_event.wait()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # idle keep-alive connections close now, busy ones after their answer
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.config.timeout_graceful_shutdown or 1)
        # uvicorn exposes no event for "last connection closed", so poll briefly (answers take ~1 ms).
        while (self.server_state.connections or self.server_state.tasks) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.002)
        for task in list(self.server_state.tasks):
            task.cancel()
        for server in self.servers:
            await server.wait_closed()


async def _read_params(request: Request) -> Params:
    """Parameters from the query string and a JSON, urlencoded or multipart body, as Telegram accepts.

    PTB's own HTTP layer posts urlencoded forms whose non-string values are JSON-encoded, so those are decoded
    back; newsbot's (`bot.channels.telegram_http`) posts JSON.
    """
    params: Params = dict(request.query_params)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        body = await request.body()
        if body:
            params.update(json.loads(body))
    elif content_type.startswith("multipart/form-data"):
        form = await request.form()
        for name, value in form.items():
            params[name] = value if isinstance(value, str) else getattr(value, "filename", "")
    else:
        body = await request.body()
        if body:
            params.update(parse_qsl(body.decode(), keep_blank_values=True))
    for name, value in params.items():
        if isinstance(value, str):
            params[name] = _decode_field(name, value)
    for name in _ID_FIELDS:
        value = params.get(name)
        if isinstance(value, str) and value.lstrip("-").isdigit():
            params[name] = int(value)
    return params


def _decode_field(name: str, value: str) -> Any:
    if name in _STRING_FIELDS or not value or value[0] not in '{["-0123456789tfn':
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> Response:
    payload: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        payload["parameters"] = parameters
    return Response(_dumps(payload), status_code=code, media_type="application/json")


_ADMIN_RIGHTS = (
    "can_manage_chat", "can_delete_messages", "can_manage_video_chats", "can_restrict_members",
    "can_promote_members", "can_change_info", "can_invite_users", "can_post_stories", "can_edit_stories",
    "can_delete_stories",
)  # fmt: skip
_MEMBER_RIGHTS = (
    "can_send_messages", "can_send_audios", "can_send_documents", "can_send_photos", "can_send_videos",
    "can_send_video_notes", "can_send_voice_notes", "can_send_polls", "can_send_other_messages",
    "can_add_web_page_previews", "can_change_info", "can_invite_users", "can_pin_messages",
    "can_manage_topics", "can_edit_tag",
)  # fmt: skip


def _chat_member(status: str, user: dict[str, Any]) -> dict[str, Any]:
    """A ChatMember object in the shape the Bot API documents for each status."""
    if status == "creator":
        return {"status": "creator", "user": user, "is_anonymous": False}
    if status == "administrator":
        member = {"status": "administrator", "user": user, "can_be_edited": False, "is_anonymous": False}
        return member | dict.fromkeys(_ADMIN_RIGHTS, True)
    if status == "restricted":
        member = {"status": "restricted", "user": user, "is_member": True, "until_date": 0}
        return member | dict.fromkeys(_MEMBER_RIGHTS, False)
    if status == "kicked":
        return {"status": "kicked", "user": user, "until_date": 0}
    if status in ("member", "left"):
        return {"status": status, "user": user}
    raise ValueError(f"unknown chat member status {status!r}")


async def _serve_forever(host: str, port: int, per_second: int | None) -> None:
    api = FakeBotAPI(host=host, port=port)
    if per_second:
        api.rate_limit(per_second)
    async with api:
        print(f"fake Bot API listening on {api.base_url}", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    """Run the fake in its own process (e.g. for a benchmark): python -m tests.fakes --port 8081.

    `--port 0` picks a free port; the first line printed names it. uvloop is used when installed.
    """
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--rate-limit", type=int, default=None, help="sendMessage calls per second")
    options = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        run = asyncio.run
    else:
        run = uvloop.run
    with contextlib.suppress(KeyboardInterrupt):
        run(_serve_forever(options.host, options.port, options.rate_limit))
