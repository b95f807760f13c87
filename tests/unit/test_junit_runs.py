"""A run's JUnit report through the executor (app/jobs/executors.py) over a MemoryEngine: which
path is read (the request's, else the image's label), that results.json wins, and that the
tests never change the colour."""

# ruff: noqa: F811  (the `node` fixture is test_executors.py's: its tests' parameters name it)

from typing import Any

from app.externals.memory_engine import Program
from app.jobs.requests import RunRequest
from tests.contract.conftest import IMAGE, fixture_private_redis, fixture_run_path  # noqa: F401
from tests.contract.programs import supervisor_result
from tests.unit.test_executors import (  # noqa: F401
    EXERCISM_LABELS,
    FILES,
    SOLUTION,
    V3_FAIL,
    Node,
    _queued,
    _real_light,
    node,
)

PASSING = b'<testsuite><testcase classname="t" name="passes" time="0.5"/></testsuite>'
FAILING = b'<testsuite><testcase name="fails"><failure message="no"/></testcase></testsuite>'
LABEL = {"greenbar.junit_xml": "label.xml"}


def _image(node: Node, created: dict[str, bytes], labels: dict[str, str] | None = None) -> None:
    program = Program(stdout=supervisor_result(1, created=created))
    node.run_path.engine.add_image(IMAGE, labels=labels, program=program)


def _result(node: Node, request: RunRequest, **executor: Any) -> dict[str, Any]:
    run_id = _queued(node, request)
    node.executor(**executor).execute(run_id)
    return node.store.get(run_id).result or {}


def test_a_report_the_image_s_label_names_becomes_the_tests_and_the_rule_keeps_the_colour(
    node: Node,
) -> None:
    _image(node, {"label.xml": PASSING}, LABEL)
    result = _result(node, RunRequest(IMAGE, FILES))
    assert result["outcome"] == "red", "the rule said red; passing tests change nothing"
    assert result["tests"]["status"] == "pass" and result["tests"]["junit_xml"] == "label.xml"
    [test] = result["tests"]["tests"]
    assert (test["name"], test["duration_ms"]) == ("t.passes", 500)


def test_the_request_s_junit_xml_wins_over_the_image_s_label(node: Node) -> None:
    _image(node, {"label.xml": PASSING, "asked.xml": FAILING}, LABEL)
    result = _result(node, RunRequest(IMAGE, FILES, junit_xml="asked.xml"))
    assert result["tests"]["junit_xml"] == "asked.xml"
    assert [t["name"] for t in result["tests"]["tests"]] == ["fails"]


def test_a_run_naming_no_report_has_no_tests_and_nothing_more_in_its_log(node: Node) -> None:
    _image(node, {"report.xml": PASSING})
    result = _result(node, RunRequest(IMAGE, FILES))
    assert "tests" not in result and "JUnit" not in result["log"]


def test_a_named_report_the_run_did_not_leave_is_a_log_line_and_the_colour_stands(
    node: Node,
) -> None:
    _image(node, {}, LABEL)
    result = _result(node, RunRequest(IMAGE, FILES))
    assert result["outcome"] == "red" and "tests" not in result
    assert "no JUnit report at label.xml, relative to /sandbox" in result["log"]


def test_an_exercism_run_s_results_json_wins_over_a_junit_report(node: Node) -> None:
    created = {".greenbar-exercism/results.json": V3_FAIL, "report.xml": PASSING}
    _image(node, created, EXERCISM_LABELS)
    request = RunRequest(IMAGE, SOLUTION, exercise="hiker", junit_xml="report.xml")
    result = _result(node, request, light=_real_light(node))
    assert result["outcome"] == "red", "coloured by results.json"
    assert result["tests"]["version"] == 3 and "junit_xml" not in result["tests"]
    assert "JUnit" not in result["log"]


def test_a_report_that_is_not_utf_8_text_is_a_log_line_even_when_binary_files_come_back(
    node: Node,
) -> None:
    latin_1 = '<testsuite><testcase name="café"/></testsuite>'.encode("latin-1")
    _image(node, {"report.xml": latin_1})
    request = RunRequest(IMAGE, FILES, junit_xml="report.xml", return_binary=True)
    result = _result(node, request)
    assert result["created"]["report.xml"]["encoding"] == "base64"
    assert result["outcome"] == "red" and "tests" not in result
    assert "the JUnit report report.xml is not UTF-8 text" in result["log"]
