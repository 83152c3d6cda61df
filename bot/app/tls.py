"""The process's one TLS context for outgoing HTTPS (the Bot API, feeds).

Each httpx client built without one loads certifi's whole CA bundle again, about 25 ms of CPU: paid by every bot
(PTB builds two clients), every feed poller, every CLI command that starts one, and every test.
"""

from __future__ import annotations

import ssl
from functools import cache

import httpx


@cache
def tls_context() -> ssl.SSLContext:
    """httpx's default TLS settings (certificates, and SSL_CERT_FILE/SSL_CERT_DIR when set), built once."""
    return httpx.create_ssl_context()
