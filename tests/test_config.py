"""Settings: embedded defaults, .env files, and clear errors for bad values."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bot.app.config import DEVELOPMENT_SECRET, Settings, load_settings
from bot.app.errors import ConfigurationError
from tests.newsroom_fixtures import REPO, use_embedded_defaults


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_embedded_defaults(tmp_path, monkeypatch)


def test_defaults_need_no_credentials_and_use_sqlite_in_the_data_dir(clean_env: Path) -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///data/newsbot.sqlite3"
    assert settings.telegram_token == "" and settings.smtp_url == ""
    assert settings.outbox_dir == Path("data/outbox")
    assert settings.mail_domain == "fairview-gazette.example"


def test_env_example_documents_every_setting_and_loads_as_is(clean_env: Path) -> None:
    example = (REPO / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^NEWSBOT_([A-Z0-9_]+)=", example, flags=re.MULTILINE))
    assert documented == {name.upper() for name in Settings.model_fields}
    lines = example.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("NEWSBOT_"):
            assert lines[index - 1].startswith("# "), f"{line} needs a one-line comment above it"
    shutil.copy(REPO / ".env.example", clean_env / ".env")
    assert load_settings().database_url.endswith("data/newsbot.sqlite3")


def test_dotenv_file_is_read(clean_env: Path) -> None:
    (clean_env / ".env").write_text("NEWSBOT_OUTLET_NAME=Valley Courier\n", encoding="utf-8")
    assert load_settings().outlet_name == "Valley Courier"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NEWSBOT_PUBLIC_URL", "news.example.org"),
        ("NEWSBOT_TELEGRAM_API_URL", "ftp://api.example.org"),
        ("NEWSBOT_SMTP_URL", "http://mail.example.org"),
        ("NEWSBOT_TOPICS_FILE", "missing-topics.toml"),
        ("NEWSBOT_MAX_STORY_BYTES", "-1"),
        ("NEWSBOT_DATABASE_URL", "not a url"),
    ],
)
def test_bad_setting_is_named_in_the_error(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=name):
        load_settings()


def test_an_unset_secret_key_means_the_stores_own_and_is_never_shown(clean_env: Path) -> None:
    settings = load_settings()
    assert settings.secret_key == ""
    explicit = load_settings(secret_key="k" * 43, webhook_secret="hook-secret-" + "h" * 32)
    assert "k" * 43 not in repr(explicit) and "hook-secret" not in repr(explicit)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("test-secret", "at least 32 characters, not 11"),
        ("x" * 31, "at least 32 characters, not 31"),
        (DEVELOPMENT_SECRET, "public example value"),
    ],
)
def test_a_short_or_public_secret_key_is_refused_in_one_line_naming_it(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    monkeypatch.setenv("NEWSBOT_SECRET_KEY", value)
    with pytest.raises(ConfigurationError, match="NEWSBOT_SECRET_KEY") as refused:
        load_settings()
    message = str(refused.value)
    assert problem in message and "\n" not in message and value not in message
    monkeypatch.setenv("NEWSBOT_SECRET_KEY", "y" * 32)
    assert load_settings().secret_key == "y" * 32


def test_a_guessable_webhook_secret_is_refused_at_start_up(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Telegram takes 1 to 256 characters; whoever guesses a short one can post updates as any user, editors too.
    monkeypatch.setenv("NEWSBOT_WEBHOOK_SECRET", "hook")
    with pytest.raises(ConfigurationError, match="NEWSBOT_WEBHOOK_SECRET: must be at least 32 characters, not 4"):
        load_settings()
    monkeypatch.setenv("NEWSBOT_WEBHOOK_SECRET", "w" * 32)
    assert load_settings().webhook_secret == "w" * 32
