"""Rag lambdas on the host: an image's rule from (stdout, stderr, status) to red, amber or green.

The host only reads, caches and passes them on; they run in greenbar's evaluator containers
(`app.colour.evaluator`, images/evaluator), never in a worker. A Python lambda defines
`colour(stdout: str, stderr: str, status: int) -> str`; a Ruby one, as in cyber-dojo, is a
lambda `{ |stdout, stderr, status| ... }` whose answer's `to_s` is the colour.
"""

from dataclasses import dataclass
from enum import StrEnum

from app.outcomes import Outcome

MISSING = b"\0missing"
UNREADABLE = b"\0unreadable\n"


class Language(StrEnum):
    PYTHON = "python"
    RUBY = "ruby"


LANGUAGES = frozenset(language.value.encode() for language in Language)


@dataclass(frozen=True)
class Verdict:
    """A lambda's answer: a colour, or `faulty` with a diagnostic log."""

    outcome: Outcome  # a colour, or faulty
    log: str = ""

    @classmethod
    def faulty(cls, why: str, source: str) -> "Verdict":
        return cls(Outcome.FAULTY, f"{why}\n--- rag lambda source ---\n{source}" if source else why)


@dataclass(frozen=True)
class RagLambda:
    """An image's own lambda as read from it: its source, or the `problem` that kept it unread.

    Its cached form (`encode`, `decode`) is the language on a line of its own, then the source;
    an unreadable one is marked as such and keeps its reason instead.
    """

    language: Language
    source: str
    problem: str = ""

    def encode(self) -> bytes:
        if self.problem:
            return UNREADABLE + f"{self.language}\n{self.problem}".encode()
        return f"{self.language}\n{self.source}".encode()

    @classmethod
    def decode(cls, raw: bytes) -> "RagLambda | None":
        """The lambda `encode` gave, or None for MISSING."""
        if raw == MISSING:
            return None
        unreadable = raw.startswith(UNREADABLE)
        first, _, rest = raw.removeprefix(UNREADABLE).partition(b"\n")
        if first not in LANGUAGES:
            # Cached by a worker from before languages: a Python source, whole.
            return cls(Language.PYTHON, raw.decode("utf-8", "replace"))
        text = rest.decode("utf-8", "replace")
        language = Language(first.decode())
        return cls(language, "", text) if unreadable else cls(language, text)
