"""The words of the bot's replies to readers: topic names as typed, lists that fit a message, delivery settings.

Everything from outside (topic names, what the reader typed, an email address) is escaped here, and lists whose
length someone else decides are cut with "… and N more" (`bot.rendering.reply_limits`).
"""

from __future__ import annotations

import functools
import html
from collections.abc import Sequence
from dataclasses import dataclass

from telegram.constants import ChatType

from bot.app.config import Settings
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
PICKER_HINT = "Tap a topic to follow it, tap again to stop."
_MAX_ECHO = 40
#: How much of a long list of unknown names (e.g. a pasted paragraph after /follow) is answered name by name.
UNKNOWN_BUDGET = 2500
#: /mytopics lists this many topics, in at most this many characters, before "… and N more".
MYTOPICS_ITEMS = 50
MYTOPICS_BUDGET = 2500


@dataclass(frozen=True, slots=True)
class Voice:
    """How the bot speaks to a chat: a private chat is its reader, "you"; a group or channel is "this chat"."""

    private: bool

    @classmethod
    def of(cls, chat_type: str | None) -> Voice:
        return cls(chat_type == ChatType.PRIVATE)

    def follows(self, adverb: str = "") -> str:
        """ "You now follow" / "This chat now follows"."""
        middle = f"{adverb} " if adverb else ""
        return f"You {middle}follow" if self.private else f"This chat {middle}follows"

    @property
    def was(self) -> str:
        return "You were" if self.private else "This chat was"

    @property
    def its(self) -> str:
        return "your" if self.private else "this chat's"

    @property
    def keeps_its(self) -> str:
        return "you keep your" if self.private else "this chat keeps its"


def lower_first(sentence: str) -> str:
    """ "You follow" as the middle of a sentence: "you follow"."""
    return sentence[:1].lower() + sentence[1:]


@functools.lru_cache(maxsize=8)
def _longest_name(taxonomy: Taxonomy) -> int:
    """How many words the longest slug, name or alias has ("Democratic People's Republic of Korea": 5)."""
    names = (name for topic in taxonomy for name in (topic.slug, topic.name, *topic.aliases))
    return max(len(name.replace("-", " ").replace("_", " ").split()) for name in names)


def topic_names(taxonomy: Taxonomy, args: Sequence[str]) -> list[str]:
    """The names in a command's arguments: comma-separated, or found word by word, longest name first.

    Without commas, ``us politics north korea`` is "us politics" and "north korea": at each word the longest run
    of words that names a topic is taken. Words that name nothing stay together as one unknown name when that
    phrase has a close match ("north koreaa"), else each is its own unknown name.
    """
    text = " ".join(args)
    if "," in text:
        return [name.strip() for name in text.split(",") if name.strip()]
    words = text.split()
    longest = _longest_name(taxonomy)
    names: list[str] = []
    unmatched: list[str] = []
    start = 0
    while start < len(words):
        for end in range(min(len(words), start + longest), start, -1):
            phrase = " ".join(words[start:end])
            if taxonomy.find(phrase) is not None:
                names += _unknown_run(taxonomy, unmatched, longest)
                unmatched = []
                names.append(phrase)
                start = end
                break
        else:
            unmatched.append(words[start])
            start += 1
    return names + _unknown_run(taxonomy, unmatched, longest)


def _unknown_run(taxonomy: Taxonomy, words: list[str], longest: int) -> list[str]:
    if len(words) < 2 or len(words) > longest + 1:
        return list(words)
    try:
        taxonomy.resolve(" ".join(words))
    except TopicNotFound as unknown:
        if unknown.suggestions:
            return [" ".join(words)]
    return list(words)


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


def unknown_topics_text(taxonomy: Taxonomy, unknown: Sequence[TopicNotFound]) -> str:
    """What is wrong with each unknown name ("Did you mean North Korea?"), the first few of a long list, and where
    to look instead."""
    lines = []
    for problem in unknown:
        names = [taxonomy[slug].name if slug in taxonomy else slug for slug in problem.suggestions]
        hint = f" Did you mean {' or '.join(html.escape(name) for name in names)}?" if names else ""
        lines.append(f"I don't know the topic “{html.escape(short_echo(problem.name))}”.{hint}")
    lines = summarise(lines, budget=UNKNOWN_BUDGET, more="more unknown names.")
    lines.append("/topics lists every topic.")
    return " ".join(lines)


def suggested_slugs(unknown: Sequence[TopicNotFound]) -> list[str]:
    """Every topic suggested for the unknown names, once each, in order: each gets a button that follows it."""
    return list(dict.fromkeys(slug for problem in unknown for slug in problem.suggestions))


def topic_count(slugs: Sequence[str]) -> str:
    return "1 topic" if len(slugs) == 1 else f"{len(slugs)} topics"


def names_of(chosen: Sequence[Topic]) -> str:
    """The topics' names in bold, "A, B and C"; a long list ends with "… and 5 more" instead."""
    names = [f"<b>{html.escape(topic.name)}</b>" for topic in chosen]
    shown = summarise(names)
    if len(shown) < len(names):
        return ", ".join(shown[:-1]) + " " + shown[-1]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def picker_text(followed: Sequence[str], voice: Voice) -> str:
    count = f"{voice.follows()} {topic_count(followed)}." if followed else f"{voice.follows()} no topic yet."
    return f"{PICKER_HINT} ✅ marks what {lower_first(voice.follows())}.\n{count}"


def followed_text(taxonomy: Taxonomy, followed: Sequence[str], voice: Voice) -> str:
    """What a chat follows, in words: for someone who may look but not change it (a group's member)."""
    if not followed:
        return f"{voice.follows()} no topic yet."
    return f"{voice.follows()} {names_of([taxonomy[s] for s in followed if s in taxonomy])}."


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


def digest_when(settings: Settings) -> str:
    """ "Mondays at 07:00 (UTC)": when the weekly digest comes, as ``NEWSBOT_DIGEST_*`` set it."""
    return f"{settings.digest_weekday.capitalize()}s at {settings.digest_time:%H:%M} ({settings.digest_timezone})"


def settings_text(reader: chat_readers.ChatReader, settings: Settings) -> str:
    text = (
        "<b>How often you hear from us</b>\n"
        f"{delivery_text(reader)}\n\n"
        f"Instant: every story as it is published. Weekly digest: one message a week, on "
        f"{html.escape(digest_when(settings))}, with breaking news still here at once. Off: nothing, but "
        f"{Voice.of(reader.chat_type).its} topics are kept."
    )
    if reader.email is None and reader.chat_type == ChatType.PRIVATE:
        text += "\n\nWant the weekly digest by email too? Send <code>/email you@example.org</code>."
    return text


def short_echo(text: str) -> str:
    """What someone typed, cut short enough to repeat back in a reply (escape it after cutting)."""
    return shorten(text, _MAX_ECHO)
