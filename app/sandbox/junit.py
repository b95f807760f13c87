"""A JUnit XML report a run leaves in /sandbox, read into its result's `tests`.

IN:  the path of the report, relative to /sandbox: the run request's `junit_xml`, else the
     image's label `greenbar.junit_xml` (e.g. `greenbar.junit_xml=report.xml`).
RUN: nothing of greenbar's: cyber-dojo.sh runs its tests as it likes (`pytest --junitxml=...`).
OUT: the report comes back as a created (or changed) file, bounded like any other, for
     app/colour/junit.py to read. A report that is missing, cut or unreadable leaves `tests`
     unset and says why in the log; the colour is never the report's.
"""

from collections.abc import Mapping
from dataclasses import replace

from app.colour.exercism import Unreadable
from app.colour.junit import parse
from app.sandbox.result import RunResult

LABEL = "greenbar.junit_xml"


def labelled(labels: Mapping[str, str]) -> str | None:
    """The report an image's labels name, or None."""
    return labels.get(LABEL) or None


def reported(result: RunResult, path: str | None) -> RunResult:
    """`result` with the tests of the report at `path`, or a line in its log saying why there
    are none; as it is when no report is named or it already has tests (an exercism run's
    results.json wins)."""
    if path is None or result.tests is not None:
        return result
    found = result.created.get(path) or result.changed.get(path)
    if found is None:
        lost = " (or it was not among the created files brought back)"
        return result.logged(
            f"no JUnit report at {path}, relative to /sandbox"
            f"{lost if result.created_truncated else ''}; cyber-dojo.sh exited with {result.status}"
        )
    if found["truncated"]:
        return result.logged(
            f"the JUnit report {path} was cut at the size a created file may bring back "
            "(GREENBAR_OUTPUT_LIMIT_KIB), so it cannot be read"
        )
    if "encoding" in found:  # brought back as base64 (`return_binary`): not UTF-8 text
        return result.logged(f"the JUnit report {path} is not UTF-8 text, so it cannot be read")
    tests = parse(found["content"], path)
    if isinstance(tests, Unreadable):
        return result.logged(tests.why)
    return replace(result, tests=tests)
