"""exercism's `results.json`, versions 1 to 3, read strictly: a run's tests as a typed part of
its result, and the colour they give an image that has no rag lambda.

Pure functions: the file's text comes in (as the run's created files brought it back), a
`Tests` or a `Unreadable` reason goes out. Unknown keys are ignored, as the interface lets
later versions add some; a known key of the wrong type, an unknown status or version, or a
field the version makes required and missing is refused with a reason naming it.
"""

import json
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, TypedDict, cast

from app.colour.rag_lambda import Verdict
from app.outcomes import Outcome

Status = Literal["pass", "fail", "error"]
TestStatus = Literal["pass", "fail", "error", "skip"]  # skip: JUnit reports only
STATUSES: tuple[Status, ...] = ("pass", "fail", "error")
VERSIONS = (1, 2, 3)
MAX_BYTES = 1024 * 1024  # the harvest's own cap is lower (a created file's 50 KiB)
MAX_TESTS = 1000
COLOURS = {"pass": Outcome.GREEN, "fail": Outcome.RED, "error": Outcome.AMBER}


class Test(TypedDict):
    """One test as the runner reported it (v2 and up); optional fields are None when absent."""

    name: str
    status: TestStatus
    message: str | None
    output: str | None
    test_code: str | None
    task_id: int | None  # v3 only
    duration_ms: NotRequired[int | None]  # JUnit reports only (app/colour/junit.py)


class Tests(TypedDict):
    """The `tests` part of a run's result: the whole of results.json, normalised, or a JUnit
    report read (app/colour/junit.py)."""

    version: int | None  # None for a JUnit report
    status: Status
    message: str | None
    tests: list[Test]  # empty for version 1, which reports no single tests
    junit_xml: NotRequired[str]  # the JUnit report's path in /sandbox, when read from one


@dataclass(frozen=True)
class Unreadable:
    """Why a results.json could not be taken as the interface describes it."""

    why: str


class _Refused(ValueError):
    pass


def parse(text: str) -> Tests | Unreadable:
    """The tests `text` (a results.json) reports, or why it cannot be read."""
    if len(text.encode("utf-8", "replace")) > MAX_BYTES:
        return Unreadable(f"results.json is over {MAX_BYTES // 1024} KiB")
    try:
        document = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:  # RecursionError: nested too deep
        return Unreadable(f"results.json is not JSON: {str(error) or type(error).__name__}")
    try:
        return _tests(document)
    except _Refused as refused:
        return Unreadable(f"results.json does not follow exercism's interface: {refused}")


def verdict(tests: Tests) -> Verdict:
    """The colour of a run whose image has no rag lambda: pass is green, fail red, error
    (the tests did not run: a syntax or compile error) amber."""
    return Verdict(COLOURS[tests["status"]])


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _tests(document: Any) -> Tests:
    if not isinstance(document, dict):
        raise _Refused("the top level must be an object")
    version = _field(document, "version", int, required=True)
    if version not in VERSIONS:
        raise _Refused(f"version must be 1, 2 or 3, not {version!r}")
    status = _status(document, "status")
    message = _field(document, "message", str, required=status == "error")
    if version == 1 and status == "fail" and message is None:
        raise _Refused("message is required when a version 1 file fails")
    tests: list[Test] = []
    if version > 1:
        listed = _field(document, "tests", list, required=status != "error") or []
        if len(listed) > MAX_TESTS:
            raise _Refused(f"tests holds {len(listed)} tests, over {MAX_TESTS}")
        tests = [_test(item, version, f"tests[{i}]") for i, item in enumerate(listed)]
    return Tests(version=version, status=status, message=message, tests=tests)


def _test(item: Any, version: int, where: str) -> Test:
    if not isinstance(item, dict):
        raise _Refused(f"{where} must be an object")
    return Test(
        name=_field(item, "name", str, required=True, where=where),
        status=_status(item, "status", where),
        message=_field(item, "message", str, where=where),
        output=_field(item, "output", str, where=where),
        test_code=_field(item, "test_code", str, where=where),
        task_id=_field(item, "task_id", int, where=where) if version >= 3 else None,
    )


def _status(document: dict[str, Any], key: str, where: str = "") -> Status:
    status = _field(document, key, str, required=True, where=where)
    if status not in STATUSES:
        raise _Refused(f"{_named(where, key)} must be pass, fail or error, not {status!r}")
    return cast(Status, status)


def _field(
    document: dict[str, Any], key: str, kind: type, required: bool = False, where: str = ""
) -> Any:
    """`document[key]` if it is a `kind` (bools are not numbers); None if absent or null."""
    value = document.get(key)
    if value is None:
        if required:
            raise _Refused(f"{_named(where, key)} is required")
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        noun = {int: "a whole number", str: "a string", list: "an array"}[kind]
        raise _Refused(f"{_named(where, key)} must be {noun}, not {type(value).__name__}")
    return value


def _named(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
