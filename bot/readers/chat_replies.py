"""The words of the bot's replies to readers: topic names as typed, lists that fit a message, delivery settings.

Everything from outside (topic names, what the reader typed, an email address) is escaped here, and lists whose
length someone else decides are cut with "… and N more" (`bot.rendering.reply_limits`).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from telegram.constants import ChatType

from bot.app.errors import TopicNotFound
from bot.rendering.reply_limits import shorten, summarise
from bot.topics.taxonomy import Taxonomy, Topic
from subscribers import chat_readers
from subscribers.schema import AddressStatus, Cadence, ChannelName

CADENCE_MEANING = {
    Cadence.INSTANT.value: "every story as it is published",
    Cadence.WEEKLY.value: "a weekly digest",
    Cadence.OFF.value: "nothing for now",
}
EMAIL_STATE = {
    AddressStatus.PENDING.value: "waiting for you to confirm it",
    AddressStatus.BOUNCED.value: "mail to it bounces; send /email again with a working address",
    AddressStatus.INACTIVE.value: "paused",
}
PICKER_HINT = "Tap a topic to follow it, tap again to stop. ✅ marks what this chat follows."
_MAX_ECHO = 40
#: How much of a long list of unknown names (e.g. a pasted paragraph after /follow) is answered name by name.
UNKNOWN_BUDGET = 2500
#: /mytopics lists this many topics, in at most this many characters, before "… and N more".
MYTOPICS_ITEMS = 50
MYTOPICS_BUDGET = 2500


def topic_names(taxonomy: Taxonomy, args: Sequence[str]) -> list[str]:
    """The names in a command's arguments: comma-separated, one multi-word name ("US politics"), or one per word."""
    text = " ".join(args)
    if "," in text:
        return [name.strip() for name in text.split(",") if name.strip()]
    try:
        taxonomy.resolve(text)
    except TopicNotFound:
        return list(args)
    return [text]


def resolve_names(taxonomy: Taxonomy, names: Sequence[str]) -> tuple[list[Topic], list[TopicNotFound]]:
    """Every name resolved, in order and without duplicates, and every unknown one with its suggestions."""
    found: dict[str, Topic] = {}
    unknown: list[TopicNotFound] = []
    for name in names:
        try:
            topic = taxonomy.resolve(name)
        except TopicNotFound as exc:
            unknown.append(exc)
        else:
            found.setdefault(topic.slug, topic)
    return list(found.values()), unknown


def unknown_topics_text(unknown: Sequence[TopicNotFound]) -> str:
    """What is wrong with each unknown name, the first few of a long list, and where to look instead."""
    lines = []
    for problem in unknown:
        hint = f" Did you mean {' or '.join(problem.suggestions)}?" if problem.suggestions else ""
        lines.append(f"I don't know the topic “{html.escape(short_echo(problem.name))}”.{hint}")
    lines = summarise(lines, budget=UNKNOWN_BUDGET, more="more unknown names.")
    lines.append("/topics lists every topic.")
    return " ".join(lines)


def topic_count(slugs: Sequence[str]) -> str:
    return "1 topic" if len(slugs) == 1 else f"{len(slugs)} topics"


def names_of(chosen: Sequence[Topic]) -> str:
    """The topics' names in bold, "A, B and C"; a long list ends with "… and 5 more" instead."""
    names = [f"<b>{html.escape(topic.name)}</b>" for topic in chosen]
    shown = summarise(names)
    if len(shown) < len(names):
        return ", ".join(shown[:-1]) + " " + shown[-1]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def picker_text(followed: Sequence[str]) -> str:
    count = f"This chat follows {topic_count(followed)}." if followed else "This chat follows no topic yet."
    return f"{PICKER_HINT}\n{count}"


def delivery_text(reader: chat_readers.ChatReader) -> str:
    """One line per channel: how often, and the state of the email address."""
    telegram = reader.cadences.get(ChannelName.TELEGRAM.value, Cadence.INSTANT.value)
    lines = [f"💬 Here: {CADENCE_MEANING[telegram]}" + (", and breaking news at once" if telegram == "weekly" else "")]
    if reader.email:
        state = EMAIL_STATE.get(reader.email_status or "")
        email_cadence = reader.cadences.get(ChannelName.EMAIL.value, Cadence.WEEKLY.value)
        lines.append(
            f"✉️ Email to {html.escape(reader.email)}{f' ({state})' if state else ''}: {CADENCE_MEANING[email_cadence]}"
        )
    return "\n".join(lines)


def settings_text(reader: chat_readers.ChatReader) -> str:
    text = (
        "<b>How often you hear from us</b>\n"
        f"{delivery_text(reader)}\n\n"
        "Instant: every story as it is published. Weekly digest: one message a week, with breaking news "
        "still here at once. Off: nothing, but your topics are kept."
    )
    if reader.email is None and reader.chat_type == ChatType.PRIVATE:
        text += "\n\nWant the weekly digest by email too? Send <code>/email you@example.org</code>."
    return text


def short_echo(text: str) -> str:
    """What someone typed, cut short enough to repeat back in a reply (escape it after cutting)."""
    return shorten(text, _MAX_ECHO)
