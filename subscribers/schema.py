"""The subscriber store's tables, in SQLAlchemy Core.

Migrations (``subscribers/migrations``) create these tables; this module is what queries are written
against. Any change here needs a new migration, and `tests/test_store.py`
(``test_migrations_create_exactly_the_schema_the_code_uses``) checks that the two agree.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from subscribers.email_keys import email_key_default


class ChannelName(enum.StrEnum):
    TELEGRAM = "telegram"
    EMAIL = "email"


class Cadence(enum.StrEnum):
    """How often a reader hears from us on one channel."""

    INSTANT = "instant"
    WEEKLY = "weekly"
    OFF = "off"


class AddressStatus(enum.StrEnum):
    PENDING = "pending"  # email waiting for double opt-in confirmation
    ACTIVE = "active"
    INACTIVE = "inactive"  # chat blocked the bot, left, or was deleted
    BOUNCED = "bounced"  # email hard-bounced too often


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a worker; returned to pending if that worker dies
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"  # the address went away before we could send, or the story was retracted
    STOPPED = "stopped"  # an editor stopped the story; `newsbot resume` makes these pending again


class Priority(enum.IntEnum):
    """Lower is sent first: breaking news jumps the queue."""

    BREAKING = 0
    NORMAL = 10
    DIGEST = 20


DEFAULT_CADENCE = {ChannelName.TELEGRAM: Cadence.INSTANT, ChannelName.EMAIL: Cadence.WEEKLY}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite has no time zones; store naive UTC there)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """Convert each distinct datetime once: bulk inserts bind the same ``now`` on every row."""
        convert = super().bind_processor(dialect)
        if convert is None:
            return None
        last: tuple[Any, Any] = (None, None)

        def process(value: Any) -> Any:
            nonlocal last
            seen, converted = last
            if value is seen and value is not None:
                return converted
            converted = convert(value)
            last = (value, converted)
            return converted

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
    #: The language the reader reads newsbot in ("de"); NULL until chosen or learnt, meaning the outlet's default.
    Column("language", String(16)),
    # The reader's IANA time zone; NULL means the outlet's NEWSBOT_DIGEST_TIMEZONE.
    Column("timezone", String(64)),
    # Quiet hours in the reader's zone, minutes after local midnight (from 22:00 = 1320 until 07:00 = 420);
    # NULL: none. Messages due inside wait for their end; breaking news too only when quiet_holds_breaking.
    Column("quiet_from", Integer),
    Column("quiet_until", Integer),
    Column("quiet_holds_breaking", Boolean, nullable=False, default=False, server_default=false()),
)

addresses = Table(
    "addresses",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subscriber_id", ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("address", String(320), nullable=False),
    Column("cadence", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("breaking_email", Boolean, nullable=False, default=False),
    Column("bounce_count", Integer, nullable=False, default=0),
    Column("confirmed_at", UtcDateTime),
    # Telegram: private, group, supergroup or channel (who may change a group's topics depends on it).
    Column("chat_type", String(16)),
    # Email: when the last double opt-in mail went out, so repeated signups cannot flood an inbox.
    Column("confirmation_sent_at", UtcDateTime),
    # Email: the random part of the latest confirmation link; a link without it confirms nothing.
    Column("confirmation_nonce", String(64)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # Email: the address lower-cased (subscribers/email_keys.py), unique: one reader per address whatever its
    # case; every lookup by email address compares it. NULL for chat ids.
    Column("email_key", String(320), default=email_key_default),
    UniqueConstraint("channel", "address"),
    UniqueConstraint("subscriber_id", "channel"),
    Index(None, "email_key", unique=True),
    CheckConstraint("channel IN ('telegram', 'email')", name="channel"),
    CheckConstraint("cadence IN ('instant', 'weekly', 'off')", name="cadence"),
    CheckConstraint("status IN ('pending', 'active', 'inactive', 'bounced')", name="status"),
)

reader_story_languages = Table(
    "reader_story_languages",
    metadata,
    # The languages a reader wants stories in; no row at all means every language. Planning leaves a reader out
    # of a story in another language (see subscribers/story_language_filters.py).
    Column("subscriber_id", ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    Column("language", String(16), primary_key=True),
)

follows = Table(
    "follows",
    metadata,
    Column("subscriber_id", ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    Column("topic", String(64), primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
    # Planning looks follows up by topic; the primary key serves lookups by subscriber.
    Index(None, "topic", "subscriber_id"),
)

stories = Table(
    "stories",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("url", Text),
    Column("breaking", Boolean, nullable=False, default=False),
    Column("author", Text),
    Column("published_at", UtcDateTime),
    # Where it came from (cli, telegram, api, feed) and the caller's own id, for idempotent API ingests.
    Column("source", String(32)),
    Column("external_id", String(200)),
    Column("created_at", UtcDateTime, nullable=False),
    # Embargo: nothing of the story is sent, posted or shown before then (NULL: at once). Its deliveries and
    # posts wait with not_before = publish_at, so every worker respects it with no extra check.
    Column("publish_at", UtcDateTime),
    # A follow-up of a developing story: the id of the story it updates (it reaches that story's readers too).
    Column("updates_story_id", String(200)),
    # Corrections: the version readers see now (earlier ones are in story_versions) and its "Corrected: ..." note.
    Column("version", Integer, nullable=False, default=1, server_default="1"),
    Column("correction_note", Text),
    Column("corrected_at", UtcDateTime),
    # An editor stopped the send (cleared by resume), or withdrew the story for good.
    Column("stopped_at", UtcDateTime),
    Column("retracted_at", UtcDateTime),
    # The story's picture (an absolute http(s) URL) and its alt text: a Telegram photo, the top of its email.
    Column("image_url", Text),
    Column("image_alt", Text),
    # The language it is written in, a short code ("de"); NULL for stories stored before stories had one (no
    # reader's story-language filter holds those back). Indexed: readers are offered the languages published.
    Column("language", String(16)),
    Index(None, "language"),
    # A unique index, not a constraint: SQLite adds it without rebuilding the table (see migrations/env.py).
    Index(None, "external_id", unique=True),
)

story_versions = Table(
    "story_versions",
    metadata,
    # Each version a correction replaced, as readers had it: the stories row always holds the current one.
    Column("story_id", ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("url", Text),
    Column("correction_note", Text),
    # Who replaced it, and when.
    Column("replaced_by", String(100)),
    Column("replaced_at", UtcDateTime, nullable=False),
)

story_topics = Table(
    "story_topics",
    metadata,
    Column("story_id", ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True),
    Column("topic", String(64), primary_key=True),
    Column("position", Integer, nullable=False, default=0),
    Index(None, "topic"),
)


def _outbox_columns() -> list[Column[Any] | CheckConstraint]:
    """What reader deliveries and social posts share: one outbox engine claims, leases, retries and records both.

    New objects on each call: a Column belongs to one table.
    """
    return [
        Column("status", String(16), nullable=False),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text),
        Column("provider_id", Text),
        Column("not_before", UtcDateTime, nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("updated_at", UtcDateTime, nullable=False),
        Column("sent_at", UtcDateTime),
        # The worker (workers.id) holding a 'sending' row; if it stops heartbeating, the row goes back to the queue.
        Column("claimed_by", String(64)),
        CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed', 'cancelled', 'stopped')", name="status"),
    ]


deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    # What is delivered: "story:<story id>" or "digest:<ISO week>", or what is done to a story's sent message:
    # "edit:<story id>:<version>", "delete:<story id>", "withdraw:<story id>", "correction:<story id>:<version>";
    # with subscriber and channel: unique.
    Column("item_key", String(220), nullable=False),
    Column("story_id", ForeignKey("stories.id", ondelete="CASCADE")),
    Column("subscriber_id", ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("priority", Integer, nullable=False),
    *_outbox_columns(),
    UniqueConstraint("item_key", "subscriber_id", "channel"),
    # The worker's claim query, one per channel: due pending rows, breaking first, oldest first.
    Index(None, "status", "channel", "priority", "not_before", "id"),
    Index(None, "story_id", "status"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UtcDateTime, nullable=False),
    # Who: "telegram:<user id>", "cli", "api".
    Column("actor", String(100), nullable=False),
    Column("action", String(50), nullable=False),
    Column("subject", String(220)),
    Column("recipients", Integer),
    Column("details", Text),
    Index(None, "at"),
)

social_posts = Table(
    "social_posts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("story_id", ForeignKey("stories.id", ondelete="CASCADE"), nullable=False),
    # A Telegram channel ("telegram:@channel") or an Apprise URL's id; one post per story, destination and kind.
    Column("destination", String(300), nullable=False),
    # "post", or what is done to the sent post: "edit:<version>", "delete", "withdraw" (as for deliveries).
    Column("kind", String(40), nullable=False, default="post", server_default="post"),
    *_outbox_columns(),
    UniqueConstraint("story_id", "destination", "kind"),
    Index(None, "status", "not_before"),
)

feeds = Table(
    "feeds",
    metadata,
    Column("url", String(2000), primary_key=True),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("last_polled_at", UtcDateTime),
    Column("last_error", Text),
    Column("failures", Integer, nullable=False, default=0),
)

feed_entries = Table(
    "feed_entries",
    metadata,
    Column("feed_url", String(2000), primary_key=True),
    # The entry's GUID, else its link: each entry is ingested once.
    Column("entry_key", String(2000), primary_key=True),
    Column("story_id", ForeignKey("stories.id", ondelete="SET NULL")),
    Column("created_at", UtcDateTime, nullable=False),
)

workers = Table(
    "workers",
    metadata,
    # Delivery workers alive now: each heartbeats; the live count splits Telegram's overall rate between them.
    Column("id", String(64), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("heartbeat_at", UtcDateTime, nullable=False),
)

channel_health = Table(
    "channel_health",
    metadata,
    # One row per channel that could not be reached (relay down, Bot API failing), shared by every worker: while
    # it exists the channel is paused, one delivery at a time probes it, and the row goes when a probe succeeds.
    Column("channel", String(16), primary_key=True),
    Column("unreachable_since", UtcDateTime, nullable=False),
    Column("last_error", Text),
    Column("failed_probes", Integer, nullable=False, default=0),
    # When the next probe may be claimed; while one is in flight, when another worker may take over from it.
    Column("next_probe_at", UtcDateTime, nullable=False),
    Column("probe_by", String(64)),
    Column("updated_at", UtcDateTime, nullable=False),
)

store_secrets = Table(
    "store_secrets",
    metadata,
    # Random values made once per store ("signing": the link-signing key when NEWSBOT_SECRET_KEY is unset), so
    # every process and machine sharing the store uses the same ones; `newsbot db copy` carries them.
    Column("name", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

request_counts = Table(
    "request_counts",
    metadata,
    # Signups and confirm attempts per client (or for the whole site) in each one-minute window: the limits
    # hold across every web process sharing the store.
    Column("bucket", String(120), primary_key=True),
    Column("window_start", Integer, primary_key=True),
    Column("hits", Integer, nullable=False),
)

editor_accounts = Table(
    "editor_accounts",
    metadata,
    # People who may sign in to the desk on the web; Telegram-only editors (NEWSBOT_EDITOR_IDS) need no row.
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False),
    # The address lower-cased (subscribers/email_keys.py), unique: one account per address whatever its case.
    Column("email_key", String(320), nullable=False),
    Column("name", String(200)),
    Column("role", String(16), nullable=False),
    # The editor's Telegram user id, so /desk in the bot can send them a sign-in link.
    Column("telegram_id", BigInteger),
    Column("created_at", UtcDateTime, nullable=False),
    # "End all sessions": sessions carry the generation they were issued in, and only the current one counts.
    Column("session_generation", Integer, nullable=False, default=0),
    Column("sessions_valid_after", UtcDateTime),
    Index(None, "email_key", unique=True),
    Index(None, "telegram_id", unique=True),
    CheckConstraint("role IN ('editor', 'admin')", name="role"),
)

login_links = Table(
    "login_links",
    metadata,
    # One-time sign-in links: only the SHA-256 of the token is kept, so the store never holds a usable link.
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", ForeignKey("editor_accounts.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime),
    Index(None, "expires_at"),
)

desk_topics = Table(
    "desk_topics",
    metadata,
    # The taxonomy as admins edit it on the desk. Empty until the first change there: until then the topics file
    # is the taxonomy, and that first change copies the file in (see topic_settings_versions).
    Column("slug", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    # JSON lists of words: what the tagger looks for, and other names readers may type.
    Column("keywords", Text, nullable=False),
    Column("aliases", Text, nullable=False),
    Column("position", Integer, nullable=False),
    # A retired topic is no longer offered, tagged or followable; its readers' follows stay, for a restore.
    Column("retired_at", UtcDateTime),
)

social_destinations = Table(
    "social_destinations",
    metadata,
    # Where stories of some topics are posted, as admins set it on the desk (copied from the distribution file at
    # the first change, like desk_topics). ``target`` is an outlet channel or an Apprise URL, which holds
    # credentials: pages and logs show ``key`` (service and hash) instead.
    Column("id", Integer, primary_key=True),
    Column("key", String(120), nullable=False),
    Column("target", Text, nullable=False),
    Column("topics", Text, nullable=False),  # a JSON list of slugs
    Column("enabled", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index(None, "key", unique=True),
)

topic_settings_versions = Table(
    "topic_settings_versions",
    metadata,
    # One row ("topics") once the desk has changed topics or destinations: from then on desk_topics and
    # social_destinations are what every process uses, and each change adds one to ``version``, which every process
    # compares with the one it loaded to know it must read them again.
    Column("name", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
