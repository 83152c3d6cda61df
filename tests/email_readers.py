"""Helpers for the email reader tests: stories stored at chosen times, received mail parsed, the web app's client."""

from __future__ import annotations

import dataclasses
import email
import email.policy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import httpx

from bot.app.newsroom import Newsroom
from bot.channels import Channel
from bot.stories.intake import prepare_story
from bot.stories.parsing import parse_story
from bot.stories.story import Story
from bot.web import create_app
from subscribers import stories
from subscribers.schema import addresses, follows

FRONT_MATTER = "---\ntitle: {title}\nid: {id}\ntopics: [{topics}]\nbreaking: {breaking}\n{url}---\n{body}\n"


async def store_story_at(
    newsroom: Newsroom, when: datetime, story_id: str, title: str, *topics: str, **options: Any
) -> Story:
    """Store a story as if it had been ingested at *when* (the digest picks stories by when they were stored);
    *options* as for :func:`sample_story` (body, breaking, url)."""
    story = sample_story(newsroom, story_id, title, *topics, when=when, **options)
    async with newsroom.engine.begin() as conn:
        assert await stories.save_story(conn, story, when)
    return story


def sample_story(
    newsroom: Newsroom,
    story_id: str,
    title: str,
    *topics: str,
    body: str = "",
    breaking: bool = False,
    url: str | None = None,
    when: datetime | None = None,
) -> Story:
    """A story with exactly *topics*, ready to store or ingest."""
    on = f" on {when:%A}" if when else ""
    text = FRONT_MATTER.format(
        title=title,
        id=story_id,
        topics=", ".join(topics),
        breaking=str(breaking).lower(),
        url=f"url: {url}\n" if url else "",
        body=body or f"Our reporters covered this{on}. Officials said more details would follow.",
    )
    story = prepare_story(
        parse_story(text, max_bytes=newsroom.settings.max_story_bytes),
        settings=newsroom.settings,
        taxonomy=newsroom.taxonomy,
        tagger=newsroom.tagger,
    )
    return dataclasses.replace(story, topics=tuple(topics))  # exactly these topics, whatever the tagger thinks


def parse_mail(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def unsubscribe_links(message: EmailMessage) -> tuple[str, str]:
    """The https and mailto targets of List-Unsubscribe, in that order."""
    https, mailto = (part.strip(" <>") for part in str(message["List-Unsubscribe"]).split(","))
    return https, mailto


def assert_bulk_mail_headers(message: EmailMessage, to: str) -> None:
    """Every header mailbox providers expect of bulk mail, and the two parts in the right order."""
    assert message["From"].addresses[0].display_name == "Fairview Gazette"
    assert message["From"].addresses[0].addr_spec == "newsletter@fairview-gazette.example"
    assert message["Reply-To"].addresses[0].addr_spec == "newsletter@fairview-gazette.example"
    assert message["To"] == to
    assert message["Message-ID"].endswith("@fairview-gazette.example>")
    assert message["Date"].datetime is not None
    assert message["List-Id"] == "Fairview Gazette <newsletter.fairview-gazette.example>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Precedence"] == "bulk"
    https, mailto = unsubscribe_links(message)
    assert https.startswith("https://news.example.org/unsubscribe/")
    assert mailto.startswith("mailto:unsubscribe@fairview-gazette.example")
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]


def bodies(message: EmailMessage) -> tuple[str, str]:
    """(plain text, html) of a multipart/alternative message."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def path_of(url: str) -> str:
    return urlsplit(url).path


@asynccontextmanager
async def web_client(newsroom: Newsroom, email_channel: Channel | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """The real app through httpx's ASGI transport; confirmation mail goes through *email_channel* when given."""
    app = create_app(newsroom)
    if email_channel is not None:
        app.state.email_channel = email_channel
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://news.example.org") as client:
        yield client


async def email_row(newsroom: Newsroom, address: str) -> dict[str, object] | None:
    async with newsroom.engine.connect() as conn:
        row = (await conn.execute(addresses.select().where(addresses.c.address == address))).one_or_none()
    return None if row is None else dict(row._mapping)


async def topics_of(newsroom: Newsroom, subscriber_id: int) -> set[str]:
    async with newsroom.engine.connect() as conn:
        rows = await conn.execute(follows.select().where(follows.c.subscriber_id == subscriber_id))
        return {row.topic for row in rows}
