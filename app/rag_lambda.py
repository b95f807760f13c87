"""Rag lambdas: an image's rule from (stdout, stderr, status) to red, amber or green.

A lambda's source defines `colour(stdout: str, stderr: str, status: int) -> str`. Trusted
sources (byte-identical to the image's own) are compiled and called here, in the worker, with
nothing but a few harmless builtins and the standard library's `re`, and a time limit.
"""

import builtins
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from types import FrameType
from typing import Any

FUNCTION = "colour"


class Colour(StrEnum):
    RED = "red"
    AMBER = "amber"
    GREEN = "green"


COLOURS = frozenset(c.value for c in Colour)

_SAFE_BUILTINS = {
    name: getattr(builtins, name)
    for name in (
        "abs all any bool bytes chr dict enumerate filter float frozenset int isinstance "
        "issubclass iter len list map max min next ord range repr reversed round set slice "
        "sorted str sum tuple zip ArithmeticError AttributeError Exception IndexError "
        "KeyError LookupError RuntimeError TypeError ValueError ZeroDivisionError"
    ).split()
}


def _only_re(name: str, *args: Any, **kwargs: Any) -> Any:
    if name != "re":
        raise ImportError(f"a rag lambda may import only re, not {name}")
    return re


_SAFE_BUILTINS["__import__"] = _only_re


@dataclass(frozen=True)
class Verdict:
    """A lambda's answer: a colour, or `faulty` with a diagnostic log."""

    outcome: str
    log: str = ""

    @classmethod
    def faulty(cls, why: str, source: str) -> "Verdict":
        return cls("faulty", f"{why}\n--- rag lambda source ---\n{source}" if source else why)


class LambdaTimeout(BaseException):
    """Raised inside a lambda that ran past its time limit (BaseException: not caught by it)."""


@dataclass(frozen=True)
class RagLambda:
    """A compiled lambda, or the reason it could not be compiled."""

    source: str
    function: Callable[[str, str, int], object] | None = None
    failure: str = ""

    @classmethod
    def compile(cls, source: str) -> "RagLambda":
        namespace: dict[str, Any] = {"__builtins__": _SAFE_BUILTINS, "re": re}
        try:
            exec(compile(source, "red_amber_green.py", "exec"), namespace)
        except Exception as error:  # any failure at definition time is "does not compile"
            return cls(source, failure=f"the rag lambda does not compile: {_said(error)}")
        function = namespace.get(FUNCTION)
        if not callable(function):
            return cls(source, failure=f"the rag lambda defines no function {FUNCTION}()")
        return cls(source, function=function)

    def colour(self, stdout: str, stderr: str, status: int, limit_seconds: float) -> Verdict:
        """Calls the lambda with a time limit and validates its answer."""
        if self.function is None:
            return Verdict.faulty(self.failure, self.source)
        try:
            answer = _within(limit_seconds, self.function, stdout, stderr, status)
        except LambdaTimeout:
            why = f"the rag lambda took longer than its time limit of {limit_seconds} s"
            return Verdict.faulty(why, self.source)
        except Exception as error:
            return Verdict.faulty(f"the rag lambda raised {_said(error)}", self.source)
        return validated(answer, self.source)


def validated(answer: object, source: str) -> Verdict:
    """The verdict for whatever a lambda returned."""
    if isinstance(answer, str) and answer in COLOURS:
        return Verdict(answer)
    return wrong_answer(repr(answer), source)


def wrong_answer(shown: str, source: str) -> Verdict:
    """The verdict for a lambda that returned `shown` (a repr), which is not a colour."""
    return Verdict.faulty(f"the rag lambda returned {shown:.200}, not red, amber or green", source)


def _said(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _within(seconds: float, function: Callable[..., object], *args: object) -> object:
    """Calls `function` under a tracer that stops it once `seconds` have passed.

    Tracing works in any thread (a signal-based alarm would need the main thread); it cannot
    stop a single long C call such as a pathological regular expression.
    """
    deadline = time.monotonic() + seconds

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        if time.monotonic() > deadline:
            raise LambdaTimeout()
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        return function(*args)
    finally:
        sys.settrace(previous)
