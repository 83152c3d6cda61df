"""Settings, read once from the environment and `.env` (prefix ``NEWSBOT_``).

Everything has an embedded default so that ``newsbot demo`` runs on a fresh machine with no credentials:
no Telegram token and no SMTP URL mean the file outboxes under the data directory.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigurationError

#: Used only when no secret is configured; links signed with it are refused outside demo data dirs.
DEVELOPMENT_SECRET = "newsbot-development-secret-change-me"


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
    secret_key: str = DEVELOPMENT_SECRET
    outlet_name: str = "Fairview Gazette"
    topics_file: Path | None = None
    templates_dir: Path | None = None
    max_story_bytes: int = Field(default=1_000_000, gt=0)
    summary_chars: int = Field(default=500, ge=80, le=1500)
    delivery_batch_size: int = Field(default=200, gt=0, le=10_000)
    max_attempts: int = Field(default=5, ge=1, le=100)

    @field_validator("telegram_api_url", "public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL such as https://news.example.org")
        return value.rstrip("/")

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in ("smtp", "smtps", "smtp+starttls"):
            raise ValueError("must look like smtp://user:password@host:587 (schemes: smtp, smtps, smtp+starttls)")
        return value

    @field_validator("topics_file", "templates_dir")
    @classmethod
    def _existing_path(cls, value: Path | None) -> Path | None:
        if value is not None and not value.exists():
            raise ValueError(f"{value} does not exist")
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

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def mail_domain(self) -> str:
        """The sender's domain, used for Message-IDs and the List-Id."""
        address = self.mail_from.rsplit("<", 1)[-1].rstrip(">").strip()
        return address.rsplit("@", 1)[-1] if "@" in address else "localhost"


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
