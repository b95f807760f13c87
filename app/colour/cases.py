"""The colour of a run with test cases: its cases decide, not the image's rag lambda.

A case passes when it ended by itself (not timed out, not killed for memory) with status 0
and, when it names an `expected_stdout`, printed exactly that (`exact`) or the same lines but
for trailing whitespace and trailing blank lines (`trimmed`). A failed build.sh is amber, as
is a sandbox killed whole for memory (gVisor's way) before any case came back; every case
passing is green; any other is red.
"""

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

from app.colour.rag_lambda import Verdict
from app.outcomes import Outcome
from app.sandbox.cases import Case, CaseResult
from app.sandbox.result import RunResult

Compare = Literal["exact", "trimmed"]
COMPARES: tuple[Compare, ...] = ("exact", "trimmed")
TRAILING_SPACE = re.compile(r"[ \t\r]+$", re.MULTILINE)


def judged(result: RunResult, cases: Sequence[Case], compare: Compare = "exact") -> RunResult:
    """`result` with each case's `passed` said."""
    if result.cases is None:
        return result
    said = [_judged(got, case, compare) for got, case in zip(result.cases, cases, strict=False)]
    return replace(result, cases=said)


def verdict(result: RunResult, sent: int) -> Verdict:
    """The colour of a judged run of `sent` cases, and why."""
    if result.built and result.status != 0:
        return Verdict(Outcome.AMBER, "amber: build.sh failed")
    if result.cases is None and result.oom_killed:  # the whole sandbox went (gVisor)
        return Verdict(Outcome.AMBER, "amber: out of memory before any case's result came back")
    got = result.cases or []
    failed = [index for index, case in enumerate(got) if not case["passed"]]
    failed += range(len(got), sent)  # never reported: did not pass
    if failed:
        shown = ", ".join(str(index) for index in failed[:10])
        more = " ..." if len(failed) > 10 else ""
        return Verdict(Outcome.RED, f"red: case(s) {shown}{more} did not pass")
    return Verdict(Outcome.GREEN, "green: every case passed")


def same(printed: str, expected: str, compare: Compare) -> bool:
    """Whether `printed` is `expected` under `compare`."""
    if compare == "trimmed":
        return _trimmed(printed) == _trimmed(expected)
    return printed == expected


def _judged(got: CaseResult, case: Case, compare: Compare) -> CaseResult:
    ended = got["status"] == 0 and not got["timed_out"] and not got["oom_killed"]
    if case.expected_stdout is not None:
        stdout = got["stdout"]
        ended = ended and not stdout["truncated"]
        ended = ended and same(stdout["content"], case.expected_stdout, compare)
    said = got.copy()
    said["passed"] = ended
    return said


def _trimmed(text: str) -> str:
    return TRAILING_SPACE.sub("", text).rstrip("\n")
