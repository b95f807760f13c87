"""JUnit XML reports, the per-test results most test runners can write (pytest `--junitxml`,
Maven's surefire, go-junit-report, jest-junit...), read into the shape of a run's `tests`
(app/colour/exercism.py `Tests`).

Pure functions: the report's text comes in (as the run's created files brought it back), a
`Tests` or an `Unreadable` reason goes out. The text is the run's, so hostile: a document type
declaration (where entities are declared: billion laughs, external entities) is refused the
moment the parser meets it, before anything in it is read, and the size and the number of
test cases read are bounded.

A test case is `error` with an <error> child, else `fail` with a <failure>, else `skip` with a
<skipped> (pytest's skips and xfails), else `pass`. The report is `error` when a case errored
or it holds none, else `fail` when one failed, else `pass`: a skipped test counts for neither.
"""

import math
import re
from xml.etree.ElementTree import Element, TreeBuilder
from xml.parsers import expat

from app.colour.exercism import Status, Test, Tests, TestStatus, Unreadable

MAX_BYTES = 1024 * 1024  # the harvest's own cap is lower (a created file's 50 KiB)
MAX_TESTS = 1000
ROOTS = ("testsuites", "testsuite")
# pytest heads each captured section of a test's system-out with one of these lines
# (`-o junit_logging=...`): alone, it is no output.
BANNER = re.compile(r"^-+ Captured \w+ -+$\n?", re.MULTILINE)
# The first of these a test case holds decides its status.
VERDICTS: tuple[tuple[str, TestStatus], ...] = (
    ("error", "error"),
    ("failure", "fail"),
    ("skipped", "skip"),
)


class _Refused(ValueError):
    pass


def parse(text: str, path: str) -> Tests | Unreadable:
    """The tests the JUnit report `text` (read from `path` in /sandbox) holds, or why it
    cannot be read."""
    data = text.encode("utf-8", "replace")  # a lone surrogate becomes "?"
    if len(data) > MAX_BYTES:
        return Unreadable(f"the JUnit report {path} is over {MAX_BYTES // 1024} KiB")
    try:
        root = _tree(data)
        if root.tag not in ROOTS:
            raise _Refused(f"its root is <{root.tag}>, not <testsuites> or <testsuite>")
        tests = [_test(case, i) for i, case in enumerate(root.iter("testcase"))]
    except expat.ExpatError as error:
        return Unreadable(f"the JUnit report {path} is not well-formed XML: {error}")
    except _Refused as refused:
        return Unreadable(f"the JUnit report {path} was refused: {refused}")
    return _summed(tests, path)


def _tree(data: bytes) -> Element:
    """The document's elements, built by expat with every declaration refused and at most
    MAX_TESTS test cases (ElementTree's own parser lets a DTD declare entities)."""
    builder, cases = TreeBuilder(), 0

    def start(tag: str, attributes: dict[str, str]) -> None:
        nonlocal cases
        cases += tag == "testcase"
        if cases > MAX_TESTS:
            raise _Refused(f"it holds more than {MAX_TESTS} test cases")
        builder.start(tag, attributes)

    # UTF-8 whatever the document declares: the text came back from the run decoded as such.
    parser = expat.ParserCreate(encoding="utf-8")
    parser.StartDoctypeDeclHandler = _no_declarations
    parser.EntityDeclHandler = _no_declarations
    parser.StartElementHandler = start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.Parse(data, True)
    return builder.close()


def _no_declarations(*_: object) -> None:
    raise _Refused("it declares a document type or an entity, which a report never needs")


def _test(case: Element, index: int) -> Test:
    name, classname = case.get("name"), case.get("classname")
    if not name:
        raise _Refused(f"test case {index + 1} has no name")
    status: TestStatus = "pass"
    message = None
    for tag, said in VERDICTS:
        found = case.find(tag)
        if found is not None:
            status, message = said, _message(found)
            break
    return Test(
        # jest-junit's default writes the whole title as both: say it once
        name=name if not classname or name == classname else f"{classname}.{name}",
        status=status,
        message=message,
        output=_output(case),
        test_code=None,
        task_id=None,
        duration_ms=_milliseconds(case.get("time")),
    )


def _message(verdict: Element) -> str | None:
    """The verdict's message attribute and its text (pytest's traceback, a stack trace)."""
    said, text = verdict.get("message"), verdict.text
    if said and text and said.strip() in text:
        return text
    return _joined(said, text)


def _output(case: Element) -> str | None:
    """What the test printed: its system-out, then its system-err, without pytest's banners."""
    printed = [*case.iterfind("system-out"), *case.iterfind("system-err")]
    return _joined(*(BANNER.sub("", element.text or "") for element in printed))


def _joined(*parts: str | None) -> str | None:
    kept = [part for part in parts if part and part.strip()]
    return "\n".join(kept) if kept else None


def _milliseconds(seconds: str | None) -> int | None:
    """A `time` attribute (seconds) in whole milliseconds; None when absent or not a
    non-negative number."""
    try:
        value = float(seconds or "")
    except ValueError:
        return None
    return round(value * 1000) if math.isfinite(value * 1000) and value >= 0 else None


def _summed(tests: list[Test], path: str) -> Tests:
    statuses = [test["status"] for test in tests]
    status: Status = "error" if "error" in statuses or not tests else "pass"
    if status == "pass" and "fail" in statuses:
        status = "fail"
    message = None
    if not tests:
        message = f"the JUnit report {path} holds no test cases"
    elif status == "error":
        errored = next(test for test in tests if test["status"] == "error")
        message = f"{errored['name']}: {errored['message'] or 'error'}"
    return Tests(version=None, status=status, message=message, tests=tests, junit_xml=path)
