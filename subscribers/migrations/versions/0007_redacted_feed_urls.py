"""feeds stored by a redacted URL

A feed URL with credentials (``https://user:pass@host/feed``, ``?token=...``) used to be stored as it is, in
``feeds.url``, ``feed_entries.feed_url``, the feed's ``last_error`` and the audit log's ``feed:<url>`` actors. They
are renamed to the name the code now stores such a feed under, ``feed:<host>:<hash>``
(`subscribers.secret_names.feed_name`, the same rule that names Apprise destinations), so the poller finds its
state and its seen entries under the new name and nothing is fetched or ingested twice. URLs without credentials
are left as they are. Rows are updated in place. There is no way back: the downgrade leaves the names.
"""

import sqlalchemy as sa
from alembic import op

from subscribers.secret_names import feed_name, scrub

revision = "0007"
down_revision = "0006"

_feeds = sa.table("feeds", sa.column("url", sa.String), sa.column("last_error", sa.Text))
_entries = sa.table("feed_entries", sa.column("feed_url", sa.String), sa.column("entry_key", sa.String))
_audit = sa.table("audit_log", sa.column("actor", sa.String))
#: The audit log's actor column holds 100 characters: the feed poller wrote ``f"feed:{url}"[:100]``.
_ACTOR_CHARS = 100


def upgrade() -> None:
    conn = op.get_bind()
    urls = set(conn.execute(sa.select(_feeds.c.url)).scalars())
    urls |= set(conn.execute(sa.select(_entries.c.feed_url).distinct()).scalars())
    for url in sorted(urls):
        name = feed_name(url)
        if name != url:
            _rename(conn, url, name)


def _rename(conn: sa.Connection, url: str, name: str) -> None:
    if conn.execute(sa.select(_feeds.c.url).where(_feeds.c.url == name)).first() is not None:
        conn.execute(_feeds.delete().where(_feeds.c.url == url))  # already polled under its name: keep that state
    else:
        error = conn.execute(sa.select(_feeds.c.last_error).where(_feeds.c.url == url)).scalar()
        values = {"url": name, "last_error": scrub(error, url) if error else error}
        conn.execute(_feeds.update().where(_feeds.c.url == url).values(**values))
    renamed = sa.alias(_entries)
    already = sa.select(renamed.c.entry_key).where(renamed.c.feed_url == name)
    conn.execute(_entries.delete().where(_entries.c.feed_url == url, _entries.c.entry_key.in_(already)))
    conn.execute(_entries.update().where(_entries.c.feed_url == url).values(feed_url=name))
    old_actor = f"feed:{url}"[:_ACTOR_CHARS]
    conn.execute(_audit.update().where(_audit.c.actor == old_actor).values(actor=name[:_ACTOR_CHARS]))


def downgrade() -> None:
    """The credentials are gone from the store; the names stay (the old code then starts those feeds afresh)."""
