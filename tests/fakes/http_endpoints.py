"""Small HTTP servers on 127.0.0.1: a feed host with ETag/Last-Modified, and a webhook that receives posts.

Both run ``http.server`` in a thread, so they answer whether the client is async (httpx in the feed poller) or a
blocking library called from a worker thread (Apprise's ``json://`` target).

    with FeedHost() as host:
        host.publish("/world.xml", rss_bytes)            # host.url("/world.xml") serves it, with an ETag
    with Webhook() as hook:
        hook.url("json")                                 # json://127.0.0.1:PORT/hook for Apprise
        hook.fail_next(2)                                # the next two posts get 500
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

LAST_MODIFIED = "Mon, 01 Dec 2025 10:00:00 GMT"


class Request(NamedTuple):
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _Server:
    """A ThreadingHTTPServer on a free loopback port that records every request."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._failures: deque[int] = deque()
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer._handle(self, "GET")

            def do_POST(self) -> None:
                outer._handle(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: tests read `requests` instead."""

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> _Server:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def fail_next(self, times: int = 1, status: int = 500) -> None:
        """Answer the next *times* requests with *status*."""
        with self._lock:
            self._failures.extend([status] * times)

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        request = Request(method, handler.path, {k.lower(): v for k, v in handler.headers.items()}, body)
        with self._lock:
            self.requests.append(request)
            failure = self._failures.popleft() if self._failures else None
        if failure is not None:
            self._reply(handler, failure, b"injected failure", {"Content-Type": "text/plain"})
            return
        status, payload, headers = self.answer(request)
        self._reply(handler, status, payload, headers)

    def answer(self, request: Request) -> tuple[int, bytes, dict[str, str]]:
        raise NotImplementedError

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, payload: bytes, headers: dict[str, str]) -> None:
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if payload:
            handler.wfile.write(payload)


class FeedHost(_Server):
    """Serves feeds by path with an ETag (a hash of the bytes) and a Last-Modified; answers 304 when unchanged."""

    def __init__(self) -> None:
        super().__init__()
        self.documents: dict[str, bytes] = {}
        self.logins: dict[str, str] = {}

    def url(self, path: str, *, login: str | None = None) -> str:
        """The document's URL; with *login* (``user:password``) in it, as a feed behind a login is configured."""
        return f"http://{login + '@' if login else ''}127.0.0.1:{self.port}{path}"

    def publish(self, path: str, content: bytes | str, *, login: str | None = None) -> None:
        """Serve *content* at *path* (which may carry a query, e.g. ``?token=...``, matched exactly).

        With *login* (``user:password``) the document needs HTTP Basic authentication: 401 without it.
        """
        self.documents[path] = content.encode() if isinstance(content, str) else content
        if login is not None:
            self.logins[path] = "Basic " + base64.b64encode(login.encode()).decode()

    def requests_to(self, path: str) -> list[Request]:
        return [request for request in self.requests if request.path == path]

    def answer(self, request: Request) -> tuple[int, bytes, dict[str, str]]:
        document = self.documents.get(request.path)
        if document is None:
            return 404, b"not found", {"Content-Type": "text/plain"}
        login = self.logins.get(request.path)
        if login is not None and request.headers.get("authorization") != login:
            return 401, b"login required", {"Content-Type": "text/plain", "WWW-Authenticate": 'Basic realm="feeds"'}
        etag = '"' + hashlib.sha256(document).hexdigest()[:16] + '"'
        validators = {"ETag": etag, "Last-Modified": LAST_MODIFIED}
        if request.headers.get("if-none-match") == etag:
            return 304, b"", validators
        return 200, document, {"Content-Type": "application/rss+xml; charset=utf-8", **validators}


class Webhook(_Server):
    """Receives posts (Apprise's json://, form:// or xml:// targets) and keeps their bodies."""

    def url(self, scheme: str = "json", path: str = "/hook") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def __init__(self) -> None:
        super().__init__()
        self.accepted: list[Request] = []

    @property
    def posts(self) -> list[dict[str, Any]]:
        """The JSON bodies of the posts that were accepted (injected failures excluded)."""
        return [json.loads(request.body) for request in self.accepted]

    def answer(self, request: Request) -> tuple[int, bytes, dict[str, str]]:
        with self._lock:
            self.accepted.append(request)
        return 200, b'{"ok": true}', {"Content-Type": "application/json"}
