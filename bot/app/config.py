"""Settings, read once from the environment and `.env` (prefix ``NEWSBOT_``).

Everything has an embedded default so that ``newsbot demo`` runs on a fresh machine with no credentials:
no Telegram token and no SMTP URL mean the file outboxes under the data directory.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.app.errors import ConfigurationError, TopicNotFound
from bot.languages.catalogs import languages, supported
from bot.topics.taxonomy import Taxonomy
from subscribers.secret_names import feed_name

#: The public example secret of earlier versions: refused as NEWSBOT_SECRET_KEY, so it never signs or verifies a link.
DEVELOPMENT_SECRET = "newsbot-development-secret-change-me"
#: The shortest NEWSBOT_SECRET_KEY (and webhook secret) accepted (``secrets.token_urlsafe(32)`` gives 43 characters).
MIN_SECRET_KEY_LENGTH = 32
#: Weekday names for NEWSBOT_DIGEST_WEEKDAY, Monday first as in ISO 8601.
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
#: Telegram's broadcast limits in messages per second: free, and with `allow_paid_broadcast` (paid in Stars).
FREE_TELEGRAM_RATE = 30.0
PAID_TELEGRAM_RATE = 1000.0


def _long_enough(secret: str, otherwise: str) -> str:
    """A secret set by hand is at least as long as a signing key: anything shorter can be guessed."""
    if secret and len(secret) < MIN_SECRET_KEY_LENGTH:
        raise ValueError(
            f"must be at least {MIN_SECRET_KEY_LENGTH} characters, not {len(secret)} "
            f'(python -c "import secrets; print(secrets.token_urlsafe(32))"), {otherwise}'
        )
    return secret


class Settings(BaseSettings):
    """All of newsbot's settings; see `.env.example` for one line on each."""

    model_config = SettingsConfigDict(env_prefix="NEWSBOT_", env_file=".env", extra="ignore", env_ignore_empty=True)

    data_dir: Path = Path("data")
    database_url: str = ""
    telegram_token: str = ""
    telegram_api_url: str = "https://api.telegram.org"
    smtp_url: str = ""
    mail_from: str = "Fairview Gazette <newsletter@fairview-gazette.example>"
    reply_to: str = ""
    public_url: str = "http://127.0.0.1:8080"
    #: Signs personal links; empty means the random secret newsbot keeps in the store (see `bot.app.newsroom`).
    secret_key: str = Field(default="", repr=False)
    outlet_name: str = "Fairview Gazette"
    topics_file: Path | None = None
    templates_dir: Path | None = None
    max_story_bytes: int = Field(default=1_000_000, gt=0)
    summary_chars: int = Field(default=500, ge=80, le=1500)
    delivery_batch_size: int = Field(default=200, gt=0, le=10_000)
    max_attempts: int = Field(default=5, ge=1, le=100)
    delivery_lease_seconds: int = Field(default=60, ge=5, le=3600)
    #: Seconds (or "24h", "90m", "2d") deliveries wait out an unreachable channel before they are marked failed.
    retry_for: Annotated[float, NoDecode] = Field(default=24 * 3600.0, ge=60, le=30 * 24 * 3600)
    #: `newsbot run`: where the web side listens; a webhook URL switches the bot from long polling to a webhook.
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=0, le=65535)
    webhook_url: str = ""
    webhook_secret: str = Field(default="", pattern=r"^[A-Za-z0-9_-]{0,256}$", repr=False)

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: str) -> str:
        # Whoever knows it can post updates as any Telegram user, an editor included: the signing key's length.
        return _long_enough(value, "or empty to derive one from the signing secret")

    #: Email readers: confirmation links expire, repeated signups of one address wait, hard bounces add up.
    confirm_max_age: int = Field(default=7 * 24 * 3600, ge=300, le=90 * 24 * 3600)
    signup_cooldown: int = Field(default=600, ge=0, le=7 * 24 * 3600)
    bounce_limit: int = Field(default=3, ge=1, le=100)
    #: Per minute: signups and confirm attempts from one client address, and from everyone together.
    signup_limit_per_client: int = Field(default=5, ge=1, le=10_000)
    signup_limit_per_site: int = Field(default=60, ge=1, le=100_000)
    confirm_limit_per_client: int = Field(default=10, ge=1, le=10_000)
    confirm_limit_per_site: int = Field(default=120, ge=1, le=100_000)
    #: Proxies whose X-Forwarded-For / X-Forwarded-Proto the web side believes (uvicorn's forwarded_allow_ips).
    trusted_proxies: str = "127.0.0.1,::1"
    #: DKIM (both or neither): a PEM private key file and the DNS selector its public key is published under.
    dkim_key_file: Path | None = None
    dkim_selector: str = ""
    #: An optional second, Ed25519 signature (RFC 8463) under its own selector, on top of the RSA one.
    dkim_ed25519_key_file: Path | None = None
    dkim_ed25519_selector: str = ""
    #: The weekly digest goes out on this weekday, at this local time, in this IANA time zone.
    digest_weekday: str = "monday"
    digest_time: dt.time = dt.time(7, 0)
    digest_timezone: str = "UTC"
    #: A reader's language until they choose one, when their app names none that newsbot speaks.
    default_language: str = "en"

    @field_validator("secret_key")
    @classmethod
    def _secret_key(cls, value: str) -> str:
        generate = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
        if value == DEVELOPMENT_SECRET:
            raise ValueError(
                f"this is the public example value; set a random one ({generate}) or unset it to let newsbot "
                "keep one in the store"
            )
        return _long_enough(value, "or unset to let newsbot keep a random one in the store")

    @field_validator("default_language")
    @classmethod
    def _default_language(cls, value: str) -> str:
        language = supported(value)
        if language is None:
            raise ValueError(f"must be one of {', '.join(languages())}, not {value!r}")
        return language

    @field_validator("retry_for", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        if isinstance(value, str):
            match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", value.lower())
            if match is None:
                raise ValueError("must be seconds, or a number with s, m, h or d, such as 86400 or 24h")
            return float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]
        return value

    @field_validator("dkim_selector", "dkim_ed25519_selector")
    @classmethod
    def _dkim_selector(cls, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})*", value):
            raise ValueError("must be a DNS label such as newsbot2026 (the <selector>._domainkey TXT record)")
        return value

    @field_validator("digest_weekday")
    @classmethod
    def _weekday(cls, value: str) -> str:
        key = value.strip().lower()
        matches = [day for day in WEEKDAYS if len(key) >= 3 and day.startswith(key)]
        if len(matches) != 1:
            raise ValueError(f"must be a weekday such as monday (one of {', '.join(WEEKDAYS)})")
        return matches[0]

    @field_validator("digest_time")
    @classmethod
    def _local_time(cls, value: dt.time) -> dt.time:
        if value.tzinfo is not None:
            raise ValueError("must be a local time such as 07:00; set the zone with NEWSBOT_DIGEST_TIMEZONE")
        return value

    @field_validator("digest_timezone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            if value != "UTC":
                raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin") from None
        return value

    @model_validator(mode="after")
    def _dkim_pair(self) -> Settings:
        if bool(self.dkim_key_file) != bool(self.dkim_selector):
            raise ValueError("NEWSBOT_DKIM_KEY_FILE and NEWSBOT_DKIM_SELECTOR must be set together")
        if bool(self.dkim_ed25519_key_file) != bool(self.dkim_ed25519_selector):
            raise ValueError("NEWSBOT_DKIM_ED25519_KEY_FILE and NEWSBOT_DKIM_ED25519_SELECTOR must be set together")
        if self.dkim_ed25519_key_file and not self.dkim_key_file:
            raise ValueError(
                "NEWSBOT_DKIM_ED25519_KEY_FILE needs NEWSBOT_DKIM_KEY_FILE too (RSA is what every receiver checks)"
            )
        if self.dkim_ed25519_key_file and self.dkim_ed25519_selector == self.dkim_selector:
            raise ValueError(
                "NEWSBOT_DKIM_ED25519_SELECTOR must differ from NEWSBOT_DKIM_SELECTOR (one key per record)"
            )
        return self

    #: Telegram messages per second overall; unset means Telegram's limit: 30, or 1000 with paid broadcast.
    telegram_rate: float | None = Field(default=None, gt=0, le=1000)
    telegram_paid_broadcast: bool = False
    smtp_connections: int = Field(default=4, ge=1, le=64)
    #: Editors (Telegram user ids) may push stories; comma-separated in the environment.
    editor_ids: Annotated[tuple[int, ...], NoDecode] = ()
    #: Bearer token of POST /api/stories; empty disables the API (503).
    api_token: str = ""
    #: GET /metrics without a token; with NEWSBOT_API_TOKEN set, /metrics is served behind that token instead.
    metrics: bool = False
    max_api_body_bytes: int = Field(default=2_000_000, gt=0)
    #: RSS/Atom feeds to ingest; comma- or space-separated URLs in the environment.
    feeds: Annotated[tuple[str, ...], NoDecode] = ()
    feed_interval: float = Field(default=300.0, ge=10)
    feed_max_age_hours: float = Field(default=48.0, gt=0)
    distribution_file: Path | None = None

    @field_validator("editor_ids", mode="before")
    @classmethod
    def _editor_ids(cls, value: object) -> object:
        if isinstance(value, str):
            items = value.replace(",", " ").split()
            if not all(item.lstrip("-").isdigit() for item in items):
                raise ValueError("must be Telegram user ids (numbers) separated by commas, e.g. 12345,67890")
            return tuple(int(item) for item in items)
        return value

    @field_validator("feeds", mode="before")
    @classmethod
    def _feeds(cls, value: object) -> object:
        items = value.replace(",", " ").split() if isinstance(value, str) else value
        if isinstance(items, list | tuple):
            for url in items:
                parts = urlsplit(str(url))
                if parts.scheme not in ("http", "https") or not parts.netloc:
                    raise ValueError(f"{feed_name(str(url))!r} is not an http(s) feed URL")  # no credentials shown
        return items

    @field_validator("telegram_api_url", "public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL such as https://news.example.org")
        return value.rstrip("/")

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if value and (parts.scheme not in ("http", "https") or not parts.netloc):
            raise ValueError("must be the public https URL Telegram posts updates to, e.g. https://news.example.org/tg")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in ("smtp", "smtps", "smtp+starttls"):
            raise ValueError("must look like smtp://user:password@host:587 (schemes: smtp, smtps, smtp+starttls)")
        return value

    @field_validator("topics_file", "templates_dir", "distribution_file", "dkim_key_file", "dkim_ed25519_key_file")
    @classmethod
    def _existing_path(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        """Files named in settings must be there at start-up, not when the first story or email needs them."""
        if value is None:
            return value
        if info.field_name in ("dkim_key_file", "dkim_ed25519_key_file") and not value.is_file():
            raise ValueError(f"{value} is not a file (expected a PEM private key)")
        if not value.exists():
            raise ValueError(f"{value} does not exist")
        return value

    @field_validator("data_dir")
    @classmethod
    def _data_dir(cls, value: Path) -> Path:
        # Checked, not created: commands make the directory when they first write to it. Its nearest existing
        # ancestor must be a directory, or every write there would fail with an OS error deep inside a command.
        existing = next((p for p in (value, *value.parents) if p.exists()), None)
        if existing == value and not value.is_dir():
            raise ValueError(f"{value} is a file, not a directory")
        if existing is not None and not existing.is_dir():
            raise ValueError(f"cannot create {value}: {existing} is a file, not a directory")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if value and "://" not in value:
            raise ValueError("must be a SQLAlchemy URL such as sqlite+aiosqlite:///data/newsbot.sqlite3")
        return value

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'newsbot.sqlite3'}"
        return self

    @model_validator(mode="after")
    def _free_telegram_rate(self) -> Settings:
        if self.telegram_rate and self.telegram_rate > FREE_TELEGRAM_RATE and not self.telegram_paid_broadcast:
            raise ValueError(
                f"NEWSBOT_TELEGRAM_RATE above {FREE_TELEGRAM_RATE:g} needs NEWSBOT_TELEGRAM_PAID_BROADCAST=1 "
                "(Telegram answers 429 above 30 messages/s unless the bot pays for broadcasts)"
            )
        return self

    @property
    def telegram_messages_per_second(self) -> float:
        """The overall Telegram send rate the worker keeps to."""
        if self.telegram_rate:
            return self.telegram_rate
        return PAID_TELEGRAM_RATE if self.telegram_paid_broadcast else FREE_TELEGRAM_RATE

    @property
    def sends_in_flight(self) -> int:
        """Concurrent sends that keep the Telegram rate over round trips of up to 100 ms: 8 at 30/s, 100 at 1000/s."""
        return max(8, min(128, math.ceil(self.telegram_messages_per_second / 10)))

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def mail_domain(self) -> str:
        """The sender's domain, used for Message-IDs and the List-Id."""
        address = self.mail_from.rsplit("<", 1)[-1].rstrip(">").strip()
        return address.rsplit("@", 1)[-1] if "@" in address else "localhost"

    #: Telegram editors: story messages this many seconds apart are one draft (Telegram splits a long paste).
    editor_paste_window: float = Field(default=3.0, ge=0, le=60)
    #: How often the editor's panel refreshes "sent N of M" after Send, in seconds.
    editor_progress_seconds: float = Field(default=5.0, ge=1, le=300)
    #: The secret of the Ghost webhook (``POST /api/hooks/ghost``), as typed in Ghost; empty disables the route.
    ghost_webhook_secret: str = Field(default="", repr=False)

    @field_validator("ghost_webhook_secret")
    @classmethod
    def _ghost_webhook_secret(cls, value: str) -> str:
        # Anyone who guesses it can push stories to every reader, so it is held to the signing key's length.
        return _long_enough(value, "or empty to disable the Ghost webhook")

    #: The outlet's postal address, shown in every email's footer (CAN-SPAM asks bulk senders for one).
    postal_address: str = ""

    @field_validator("postal_address")
    @classmethod
    def _postal_address(cls, value: str) -> str:
        # One line in every footer, whatever line breaks the environment carried.
        return " ".join(value.split())

    #: Topics the weekly digest lists first, in this order (a local paper puts local first); the rest follow in
    #: the taxonomy's order. Comma-separated slugs, names or aliases in the environment; an unknown one stops start-up.
    digest_topic_order: Annotated[tuple[str, ...], NoDecode] = ()

    @field_validator("digest_topic_order", mode="before")
    @classmethod
    def _digest_topic_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("digest_topic_order")
    @classmethod
    def _digest_topic_order(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if not value or "topics_file" not in info.data:
            return value  # nothing to check, or the topics file is itself the error reported
        try:
            taxonomy = Taxonomy.load(info.data["topics_file"])
        except ConfigurationError:
            return value  # a broken topics file stops start-up with its own message
        try:
            return tuple(dict.fromkeys(taxonomy.resolve(name).slug for name in value))
        except TopicNotFound as exc:
            raise ValueError(f"{exc} (expected topic slugs separated by commas, e.g. local,sports)") from None


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning pydantic's report into one line per bad setting, named as in the environment."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "settings"
            name = f"NEWSBOT_{field.upper()}" if error["loc"] else "settings"
            problems.append(f"{name}: {error['msg'].removeprefix('Value error, ')}")
        raise ConfigurationError("invalid setting " + "; ".join(problems)) from None
