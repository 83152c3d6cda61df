"""Error types, raised where a problem is detected and turned into a message at the edge (CLI, chat, HTTP)."""

from __future__ import annotations

# The base class and InvalidSubscriber are the store's own (the store imports nothing from bot/). Every error here
# derives from that base, so an edge that catches NewsbotError also catches what the store refuses.
from subscribers.errors import N_, NewsbotError
from subscribers.errors import InvalidSubscriber as InvalidSubscriber


class ConfigurationError(NewsbotError):
    """A setting is missing or malformed."""


class StoryRejected(NewsbotError):
    """Input could not become a story: empty, binary, oversized, unreadable or malformed front matter."""


class TopicNotFound(NewsbotError):
    """A topic name that the taxonomy does not know; carries close matches for a "did you mean" hint."""

    def __init__(self, name: str, suggestions: list[str] | None = None) -> None:
        self.name = name
        self.suggestions = suggestions or []
        if self.suggestions:
            template = N_("unknown topic %(name)s (did you mean %(suggestions)s?)")
            super().__init__(template, name=repr(name), suggestions=", ".join(self.suggestions))
        else:
            super().__init__(N_("unknown topic %(name)s"), name=repr(name))

    def __reduce__(self) -> tuple[type, tuple[str, list[str]]]:
        # Raised in the parsing process too (bot.app.cpu_pool): it must cross back whole.
        return type(self), (self.name, self.suggestions)


class SubscriberNotFound(NewsbotError):
    """No subscriber matches the given address or id."""


class StoryNotFound(NewsbotError):
    """No stored story has the given id."""


class StoryAlreadySent(NewsbotError):
    """The story has reached readers already: what it was sent as can no longer change."""


class RenderError(NewsbotError):
    """A template is missing, broken or produced output a channel cannot send (names the template)."""


class InvalidToken(NewsbotError):
    """A signed link that is forged, altered, meant for another purpose or expired."""


class InvalidSchedule(NewsbotError):
    """A publication time newsbot cannot use: not a date and time, or one without a UTC offset."""


class StoryHalted(NewsbotError):
    """The story cannot be resumed or sent: it was retracted (withdrawn for good)."""
