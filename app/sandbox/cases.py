"""Test cases: one run of cyber-dojo.sh per case in the same container, after build.sh once
(supervisor/cases.c). What a case is, how a request's cases are checked, and what each case
gave back."""

from dataclasses import dataclass
from typing import Any, TypedDict

from app.config import Settings
from app.errors import InvalidRequest
from app.sandbox.files import encoded, stdin_max_kib
from app.sandbox.text import Text

CASES_MAX = 256  # as the supervisor bounds them
ARGS_MAX = 64  # arguments of one case
ARG_MAX_BYTES = 4096  # one argument, as UTF-8


@dataclass(frozen=True)
class Case:
    """One case: what cyber-dojo.sh reads and is given, what it should print, and its limit.

    Args:
        stdin: its standard input (None: /dev/null).
        args: its arguments, $1 onwards.
        expected_stdout: what it must print to pass (None: it passes by exiting 0 in time).
        max_seconds: its own wall-clock limit (None: a fair share of the run's time left).
    """

    stdin: str | None = None
    args: tuple[str, ...] = ()
    expected_stdout: str | None = None
    max_seconds: float | None = None

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> "Case":
        return cls(**{**wire, "args": tuple(wire.get("args", ()))})


class CaseResult(TypedDict):
    """What one case gave back (a result's `cases[i]`).

    `status` is None for a case the run's time never reached; `passed` is None until the
    case is judged (app/colour/cases.py).
    """

    stdout: Text
    stderr: Text
    status: int | None
    timed_out: bool
    oom_killed: bool
    run_ms: int
    cpu_ms: int | None
    memory_peak_kib: int | None
    passed: bool | None


def validated(
    raw: list[dict[str, Any]], max_seconds: int, output_limit_kib: int, settings: Settings
) -> tuple[Case, ...]:
    """A request's `cases`, already shaped by its schema (web/contract.py), held to the rules
    no schema says: how many, their limits against the run's, an expected output the run's
    output limit (`output_limit_kib`) could bring back whole, and their size in all.

    Raises:
        InvalidRequest: naming the field (`cases`, `cases[2][args]`...) and the rule.
    """
    most = min(settings.cases_max, CASES_MAX)
    if not 1 <= len(raw) <= most:
        raise InvalidRequest("cases", f"from 1 to {most} cases")
    cases = tuple(Case.from_wire(case) for case in raw)
    total = 0
    for index, case in enumerate(cases):
        field = f"cases[{index}]"
        if case.max_seconds is not None and case.max_seconds > max_seconds:
            raise InvalidRequest(
                f"{field}[max_seconds]", f"at most the run's max_seconds ({max_seconds})"
            )
        _check_args(case.args, f"{field}[args]")
        expected = len(encoded(case.expected_stdout or ""))
        if expected > output_limit_kib * 1024:
            raise InvalidRequest(
                f"{field}[expected_stdout]",
                f"at most the run's output limit ({output_limit_kib} KiB): more could never pass",
            )
        total += sum(len(encoded(text or "")) for text in (case.stdin, case.expected_stdout))
        total += sum(len(encoded(arg)) for arg in case.args)
    kib = stdin_max_kib(settings)
    if total > kib * 1024:
        raise InvalidRequest("cases", f"at most {kib} KiB of stdin, arguments and expected output")
    return cases


def _check_args(args: tuple[str, ...], field: str) -> None:
    if len(args) > ARGS_MAX:
        raise InvalidRequest(field, f"at most {ARGS_MAX} arguments")
    for arg in args:
        if "\0" in arg or len(encoded(arg)) > ARG_MAX_BYTES:
            raise InvalidRequest(field, f"each argument without NUL, at most {ARG_MAX_BYTES} bytes")
