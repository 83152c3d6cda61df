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
from bot.languages.catalogs import N_, SOURCE_LANGUAGE, gettext_in, ngettext_in
from bot.rendering.reply_limits import shorten, summarise
from bot.topics.taxonomy import Taxonomy, Topic
from subscribers import chat_readers
from subscribers.schema import AddressStatus, Cadence, ChannelName

CADENCE_MEANING = {
    Cadence.INSTANT.value: N_("every story as it is published"),
    Cadence.WEEKLY.value: N_("a weekly digest"),
    Cadence.OFF.value: N_("nothing for now"),
}
EMAIL_STATE = {
    AddressStatus.PENDING.value: N_("waiting for you to confirm it"),
    AddressStatus.BOUNCED.value: N_("mail to it bounces; send /email again with a working address"),
    AddressStatus.INACTIVE.value: N_("paused"),
}
#: "Mondays at 07:00": the digest's weekday as a habit, in each language's own words ("montags", "los lunes").
WEEKDAY_HABIT = {
    "monday": N_("Mondays"),
    "tuesday": N_("Tuesdays"),
    "wednesday": N_("Wednesdays"),
    "thursday": N_("Thursdays"),
    "friday": N_("Fridays"),
    "saturday": N_("Saturdays"),
    "sunday": N_("Sundays"),
}
PICKER_HINT = N_("Tap a topic to follow it, tap again to stop.")
_MAX_ECHO = 40
#: How much of a long list of unknown names (e.g. a pasted paragraph after /follow) is answered name by name.
UNKNOWN_BUDGET = 2500
#: /mytopics lists this many topics, in at most this many characters, before "… and N more".
MYTOPICS_ITEMS = 50
MYTOPICS_BUDGET = 2500


@dataclass(frozen=True, slots=True)
class Voice:
    """How the bot speaks to a chat: a private chat is its reader, "you"; a group or channel is "this chat"; and
    in the chat's language. Every sentence exists whole in both persons, so each language words both."""

    private: bool
    language: str = SOURCE_LANGUAGE

    @classmethod
    def of(cls, chat_type: str | None, language: str = SOURCE_LANGUAGE) -> Voice:
        return cls(chat_type == ChatType.PRIVATE, language)

    def gettext(self, message: str) -> str:
        """*message* in the chat's language."""
        return gettext_in(self.language, message)

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        return ngettext_in(self.language, singular, plural, count)

    def pick(self, you: str, chat: str, **values: str) -> str:
        """The sentence for a reader's own chat (*you*) or a group's (*chat*), both already translated, filled in."""
        return (you if self.private else chat) % values

    def follows(self, topics: str) -> str:
        """ "You follow North Korea." / "This chat follows 3 topics." (*topics* is markup, already escaped)."""
        _ = self.gettext
        return self.pick(_("You follow %(topics)s."), _("This chat follows %(topics)s."), topics=topics)

    def follows_nothing(self) -> str:
        _ = self.gettext
        return self.pick(_("You follow no topic yet."), _("This chat follows no topic yet."))

    def now_follows(self, topics: str) -> str:
        _ = self.gettext
        return "✅ " + self.pick(_("You now follow %(topics)s."), _("This chat now follows %(topics)s."), topics=topics)

    def already_follows(self, topics: str) -> str:
        _ = self.gettext
        return self.pick(_("You already follow %(topics)s."), _("This chat already follows %(topics)s."), topics=topics)

    def no_longer_follows(self, topics: str) -> str:
        _ = self.gettext
        return self.pick(
            _("Done: you no longer follow %(topics)s."),
            _("Done: this chat no longer follows %(topics)s."),
            topics=topics,
        )

    def was_not_following(self, topics: str) -> str:
        _ = self.gettext
        return self.pick(
            _("You were not following %(topics)s."), _("This chat was not following %(topics)s."), topics=topics
        )


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


def unknown_topics_text(taxonomy: Taxonomy, unknown: Sequence[TopicNotFound], voice: Voice) -> str:
    """What is wrong with each unknown name ("Did you mean North Korea?"), the first few of a long list, and where
    to look instead."""
    _ = voice.gettext
    lines = []
    for problem in unknown:
        names = [taxonomy[slug].name if slug in taxonomy else slug for slug in problem.suggestions]
        line = _("I don't know the topic “%(name)s”.") % {"name": html.escape(short_echo(problem.name))}
        if names:
            choices = _(" or ").join(html.escape(name) for name in names)
            line += " " + _("Did you mean %(topics)s?") % {"topics": choices}
        lines.append(line)
    lines = summarise(
        lines,
        budget=UNKNOWN_BUDGET,
        rest_line=lambda count: (
            voice.ngettext("… and %(num)s more unknown name.", "… and %(num)s more unknown names.", count)
            % {"num": count}
        ),
    )
    lines.append(_("/topics lists every topic."))
    return " ".join(lines)


def suggested_slugs(unknown: Sequence[TopicNotFound]) -> list[str]:
    """Every topic suggested for the unknown names, once each, in order: each gets a button that follows it."""
    return list(dict.fromkeys(slug for problem in unknown for slug in problem.suggestions))


def topic_count(slugs: Sequence[str], voice: Voice) -> str:
    """ "1 topic", "3 Themen"."""
    return voice.ngettext("%(num)s topic", "%(num)s topics", len(slugs)) % {"num": len(slugs)}


def names_of(chosen: Sequence[Topic], voice: Voice) -> str:
    """The topics' names in bold, "A, B and C"; a long list ends with "… and 5 more" instead."""
    names = [f"<b>{html.escape(topic.name)}</b>" for topic in chosen]
    shown = summarise(
        names,
        rest_line=lambda count: voice.ngettext("… and %(num)s more", "… and %(num)s more", count) % {"num": count},
    )
    if len(shown) < len(names):
        return ", ".join(shown[:-1]) + " " + shown[-1]
    if len(names) == 1:
        return names[0]
    return voice.gettext("%(list)s and %(last)s") % {"list": ", ".join(names[:-1]), "last": names[-1]}


def picker_text(followed: Sequence[str], voice: Voice) -> str:
    _ = voice.gettext
    count = voice.follows(topic_count(followed, voice)) if followed else voice.follows_nothing()
    marks = voice.pick(_("✅ marks what you follow."), _("✅ marks what this chat follows."))
    return f"{_(PICKER_HINT)} {marks}\n{count}"


def followed_text(taxonomy: Taxonomy, followed: Sequence[str], voice: Voice) -> str:
    """What a chat follows, in words: for someone who may look but not change it (a group's member)."""
    if not followed:
        return voice.follows_nothing()
    return voice.follows(names_of([taxonomy[s] for s in followed if s in taxonomy], voice))


def delivery_text(reader: chat_readers.ChatReader, voice: Voice) -> str:
    """One line per channel: how often, and the state of the email address."""
    _ = voice.gettext
    telegram = reader.cadences.get(ChannelName.TELEGRAM.value, Cadence.INSTANT.value)
    here = _(CADENCE_MEANING[telegram]) + (_(", and breaking news at once") if telegram == "weekly" else "")
    lines = ["💬 " + _("Here: %(cadence)s") % {"cadence": here}]
    if reader.email:
        state = EMAIL_STATE.get(reader.email_status or "")
        email_cadence = reader.cadences.get(ChannelName.EMAIL.value, Cadence.WEEKLY.value)
        address = html.escape(reader.email) + (f" ({_(state)})" if state else "")
        lines.append(
            "✉️ "
            + _("Email to %(address)s: %(cadence)s")
            % {"address": address, "cadence": _(CADENCE_MEANING[email_cadence])}
        )
    return "\n".join(lines)


def digest_when(settings: Settings, language: str = SOURCE_LANGUAGE, zone: str | None = None) -> str:
    """ "Mondays at 07:00 (UTC)": when the weekly digest comes, as ``NEWSBOT_DIGEST_*`` set it, in the reader's
    *zone* (default the outlet's): each reader gets it at that hour of their own clock."""
    days = gettext_in(language, WEEKDAY_HABIT[settings.digest_weekday])
    moment = {"days": days, "time": f"{settings.digest_time:%H:%M}", "zone": zone or settings.digest_timezone}
    return gettext_in(language, "%(days)s at %(time)s (%(zone)s)") % moment


def settings_text(reader: chat_readers.ChatReader, settings: Settings, voice: Voice) -> str:
    _ = voice.gettext
    when = html.escape(digest_when(settings, voice.language, reader.timezone))
    explained = Voice.of(reader.chat_type, voice.language).pick(
        _(
            "Instant: every story as it is published. Weekly digest: one message a week, on %(when)s, with breaking "
            "news still here at once. Off: nothing, but your topics are kept."
        ),
        _(
            "Instant: every story as it is published. Weekly digest: one message a week, on %(when)s, with breaking "
            "news still here at once. Off: nothing, but this chat's topics are kept."
        ),
        when=when,
    )
    heading = _("How often you hear from us")
    text = f"<b>{heading}</b>\n{delivery_text(reader, voice)}\n\n{explained}"
    if reader.email is None and reader.chat_type == ChatType.PRIVATE:
        text += "\n\n" + _("Want the weekly digest by email too? Send <code>/email you@example.org</code>.")
    return text


def short_echo(text: str) -> str:
    """What someone typed, cut short enough to repeat back in a reply (escape it after cutting)."""
    return shorten(text, _MAX_ECHO)
