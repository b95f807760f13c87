"""JUnit XML reports, pure parts: reading one (pytest's, and the shapes other runners write)
safely and within bounds, finding it among a run's files, the label and the request field that
name it."""

from dataclasses import replace
from typing import Any

import pytest

from app.colour.exercism import Tests as Read
from app.colour.exercism import Unreadable
from app.colour.junit import MAX_BYTES, MAX_TESTS, parse
from app.config import Settings
from app.errors import InvalidRequest
from app.images.allowlist import Allowlist
from app.outcomes import Outcome
from app.sandbox import junit
from app.sandbox.result import RunResult
from app.sandbox.text import Text
from web.schemas import run_request

# What pytest 7 writes with --junitxml and -o junit_logging=system-out, cut to its parts.
PYTEST = """<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">
<testsuite name="pytest" errors="1" failures="1" skipped="2" tests="6" time="0.063">
<testcase classname="test_x" name="test_pass" time="0.001"><system-out>\
--------------------------------- Captured Out ---------------------------------
hello
</system-out></testcase>
<testcase classname="test_x" name="test_fail" time="0.0024">\
<failure message="AssertionError: life&#10;assert (6 * 9) == 42">&gt;   def test_fail():
E   AssertionError: life

test_x.py:3: AssertionError</failure></testcase>
<testcase classname="test_x" name="test_error" time="0.001">\
<error message="failed on setup with &quot;RuntimeError: no fixture&quot;">E   RuntimeError: \
no fixture</error></testcase>
<testcase classname="test_x" name="test_skip" time="0.000">\
<skipped type="pytest.skip" message="not yet">/sandbox/test_x.py:7: not yet</skipped></testcase>
<testcase classname="test_x" name="test_xfail" time="0.001">\
<skipped type="pytest.xfail" message="known" /></testcase>
<testcase classname="test_x.TestK" name="test_m" time="0.001"><system-out>\
--------------------------------- Captured Out ---------------------------------

</system-out></testcase>
</testsuite></testsuites>"""


def _read(text: str, path: str = "report.xml") -> Read:
    tests = parse(text, path)
    assert not isinstance(tests, Unreadable), tests
    return tests


def _suite(*cases: str) -> str:
    return f'<testsuite name="s">{"".join(cases)}</testsuite>'


def test_a_pytest_report_gives_every_test_in_order_named_module_then_test() -> None:
    tests = _read(PYTEST)
    assert [(t["name"], t["status"]) for t in tests["tests"]] == [
        ("test_x.test_pass", "pass"),
        ("test_x.test_fail", "fail"),
        ("test_x.test_error", "error"),
        ("test_x.test_skip", "skip"),
        ("test_x.test_xfail", "skip"),
        ("test_x.TestK.test_m", "pass"),
    ]
    assert (tests["version"], tests["junit_xml"]) == (None, "report.xml")


def test_a_failure_s_message_holds_its_message_attribute_then_its_traceback() -> None:
    failed = _read(PYTEST)["tests"][1]
    assert failed["message"] == (
        "AssertionError: life\nassert (6 * 9) == 42\n"
        ">   def test_fail():\nE   AssertionError: life\n\ntest_x.py:3: AssertionError"
    )


def test_a_message_attribute_the_text_repeats_is_said_once() -> None:
    skipped = _read(PYTEST)["tests"][3]
    assert skipped["message"] == "/sandbox/test_x.py:7: not yet"
    assert _read(PYTEST)["tests"][4]["message"] == "known", "an attribute alone"


def test_durations_are_whole_milliseconds_of_the_time_attribute() -> None:
    assert [t["duration_ms"] for t in _read(PYTEST)["tests"]] == [1, 2, 1, 0, 1, 1]


@pytest.mark.parametrize("time", ['time="-1"', 'time="nan"', 'time="inf"', 'time="1,5"', ""])
def test_a_time_that_is_absent_or_not_a_non_negative_number_is_no_duration(time: str) -> None:
    [test] = _read(_suite(f'<testcase name="a" {time}/>'))["tests"]
    assert test["duration_ms"] is None


def test_output_is_system_out_then_system_err_without_pytest_s_banners() -> None:
    tests = _read(PYTEST)["tests"]
    assert tests[0]["output"] == "hello\n"
    assert tests[5]["output"] is None, "a banner alone is no output"
    case = '<testcase name="a"><system-err>oops</system-err><system-out>hi</system-out></testcase>'
    assert _read(_suite(case))["tests"][0]["output"] == "hi\noops"


def test_a_passing_test_has_no_message_and_the_exercism_only_fields_are_none() -> None:
    passed = _read(PYTEST)["tests"][0]
    assert (passed["message"], passed["test_code"], passed["task_id"]) == (None, None, None)


@pytest.mark.parametrize(
    ("cases", "status"),
    [
        (['<testcase name="a"/>', '<testcase name="b"><skipped/></testcase>'], "pass"),
        (['<testcase name="a"><failure/></testcase>', '<testcase name="b"/>'], "fail"),
        (
            ['<testcase name="a"><failure/></testcase>', '<testcase name="b"><error/></testcase>'],
            "error",
        ),
    ],
)
def test_the_report_errs_when_a_test_errs_else_fails_when_one_fails_else_passes(
    cases: list[str], status: str
) -> None:
    assert _read(_suite(*cases))["status"] == status


def test_an_error_report_s_message_names_the_first_test_that_erred() -> None:
    tests = _read(PYTEST)
    assert tests["status"] == "error"
    assert tests["message"] == (
        'test_x.test_error: failed on setup with "RuntimeError: no fixture"\n'
        "E   RuntimeError: no fixture"
    )


def test_a_case_with_an_error_and_a_failure_is_an_error() -> None:
    case = '<testcase name="a"><failure message="f"/><error message="e"/></testcase>'
    [test] = _read(_suite(case))["tests"]
    assert (test["status"], test["message"]) == ("error", "e")


def test_a_report_without_test_cases_is_an_error_saying_so() -> None:
    tests = _read('<testsuites><testsuite name="pytest" tests="0"/></testsuites>')
    assert (tests["status"], tests["tests"]) == ("error", [])
    assert tests["message"] == "the JUnit report report.xml holds no test cases"


def test_nested_suites_and_a_bare_testsuite_are_read_alike() -> None:
    inner = '<testsuite name="i"><testcase name="a"/></testsuite>'
    nested = f'<testsuites><testsuite name="o">{inner}</testsuite></testsuites>'
    assert [t["name"] for t in _read(nested)["tests"]] == ["a"]
    assert [t["name"] for t in _read(_suite('<testcase name="a"/>'))["tests"]] == ["a"]


def test_a_classname_that_is_the_whole_name_is_not_said_twice() -> None:
    # jest-junit's default writes "{classname} {title}" as both
    case = '<testcase classname="adds two" name="adds two"/><testcase classname="" name="b"/>'
    assert [t["name"] for t in _read(_suite(case))["tests"]] == ["adds two", "b"]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "is not well-formed XML: no element found"),
        ('<testsuite><testcase name="a">', "is not well-formed XML"),
        ('<testsuite><testcase name="a">&nbsp;</testcase></testsuite>', "undefined entity"),
        ("<html><body/></html>", "its root is <html>, not <testsuites> or <testsuite>"),
        (_suite('<testcase classname="c"/>'), "test case 1 has no name"),
    ],
)
def test_a_malformed_report_is_unreadable_saying_why(text: str, said: str) -> None:
    found = parse(text, "out/report.xml")
    assert isinstance(found, Unreadable), found
    assert found.why.startswith("the JUnit report out/report.xml ") and said in found.why


def test_a_report_is_utf8_whatever_it_declares_and_a_lone_surrogate_breaks_nothing() -> None:
    declared = '<?xml version="1.0" encoding="ISO-8859-1"?>'
    assert _read(declared + _suite('<testcase name="π"/>'))["tests"][0]["name"] == "π"
    assert _read(_suite('<testcase name="\ud800"/>'))["tests"][0]["name"] == "?"


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<testsuite><testcase name="&lol3;"/></testsuite>"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE testsuite [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<testsuite><testcase name="a"><failure>&secret;</failure></testcase></testsuite>"""
EXTERNAL_DTD = '<!DOCTYPE testsuite SYSTEM "http://example.com/x.dtd"><testsuite/>'


@pytest.mark.parametrize("text", [BILLION_LAUGHS, EXTERNAL, EXTERNAL_DTD])
def test_a_report_declaring_a_document_type_or_entities_is_refused(text: str) -> None:
    found = parse(text, "report.xml")
    assert isinstance(found, Unreadable), found
    assert "declares a document type or an entity" in found.why


def test_an_oversized_report_is_refused_unparsed() -> None:
    found = parse(_suite(f'<testcase name="{"x" * MAX_BYTES}"/>'), "report.xml")
    assert isinstance(found, Unreadable) and "over 1024 KiB" in found.why


def test_more_test_cases_than_the_bound_are_refused_and_the_bound_itself_read() -> None:
    many = ['<testcase name="t"/>'] * (MAX_TESTS + 1)
    found = parse(_suite(*many), "report.xml")
    assert isinstance(found, Unreadable) and f"more than {MAX_TESTS} test cases" in found.why
    assert len(_read(_suite(*many[:-1]))["tests"]) == MAX_TESTS


# Finding the report among a run's files (app/sandbox/junit.py)

WHOLE = Text(content=_suite('<testcase name="a"><failure/></testcase>'), truncated=False)


def _ran(created: dict[str, Text], **result: Any) -> RunResult:
    empty = Text(content="", truncated=False)
    return RunResult(None, empty, empty, 1, "ran", 1, "i", "d", "n", created, **result)


def test_a_report_the_run_created_becomes_its_tests() -> None:
    found = junit.reported(_ran({"out/report.xml": WHOLE}), "out/report.xml")
    assert found.tests is not None and found.tests["status"] == "fail"
    assert found.log == "ran", "nothing to say"


def test_a_report_the_run_rewrote_among_the_files_sent_is_read_too() -> None:
    found = junit.reported(_ran({}, changed={"report.xml": WHOLE}), "report.xml")
    assert found.tests is not None and found.tests["junit_xml"] == "report.xml"


def test_no_report_named_leaves_the_result_as_it_is() -> None:
    ran = _ran({"report.xml": WHOLE})
    assert junit.reported(ran, None) is ran


def test_tests_already_read_from_results_json_win_over_a_report() -> None:
    exercism = Read(version=3, status="pass", message=None, tests=[])
    ran = replace(_ran({"report.xml": WHOLE}), tests=exercism)
    assert junit.reported(ran, "report.xml").tests == exercism


def test_a_missing_report_leaves_tests_unset_and_says_so_in_the_log() -> None:
    found = junit.reported(_ran({}), "report.xml")
    assert found.tests is None
    assert found.log == (
        "ran\nno JUnit report at report.xml, relative to /sandbox; cyber-dojo.sh exited with 1"
    )
    lost = junit.reported(_ran({}, created_truncated=True), "report.xml")
    assert "not among the created files brought back" in lost.log


def test_a_report_cut_at_the_output_limit_is_not_read_and_says_so() -> None:
    cut = Text(content=WHOLE["content"][:20], truncated=True)
    found = junit.reported(_ran({"report.xml": cut}), "report.xml")
    assert found.tests is None and "was cut" in found.log and "OUTPUT_LIMIT" in found.log


def test_an_unreadable_report_leaves_tests_unset_and_logs_why() -> None:
    found = junit.reported(_ran({"report.xml": Text(content="<x", truncated=False)}), "report.xml")
    assert found.tests is None and "is not well-formed XML" in found.log


def test_a_result_with_junit_tests_keeps_them_through_its_wire_form() -> None:
    found = replace(junit.reported(_ran({"report.xml": WHOLE}), "report.xml"), outcome=Outcome.RED)
    assert RunResult.from_wire(found.to_wire()).tests == found.tests


def test_an_image_names_its_report_by_label() -> None:
    assert junit.labelled({"greenbar.junit_xml": "build/report.xml"}) == "build/report.xml"
    assert junit.labelled({"greenbar.junit_xml": ""}) is None
    assert junit.labelled({}) is None


# The run request's `junit_xml` (web/schemas.py over web/contract.py)


def _request(**body: Any) -> Any:
    allowed = Allowlist(["greenbar/python-pytest"])
    body = {"image": "greenbar/python-pytest", "files": {"cyber-dojo.sh": "true"}, **body}
    return run_request(body, Settings(), allowed, None)  # type: ignore[arg-type]


def test_a_run_request_carries_its_junit_xml_through_its_wire_form() -> None:
    request = _request(junit_xml="reports/junit.xml")
    assert request.junit_xml == "reports/junit.xml"
    assert type(request).from_wire(request.to_wire()) == request
    assert _request().junit_xml is None and "junit_xml" not in _request().to_wire()


@pytest.mark.parametrize(
    ("junit_xml", "rule"),
    [
        ("/sandbox/report.xml", "non-empty relative path"),
        ("../report.xml", "'..' components"),
        ("./report.xml", "'.' or '..' components"),
        ("a//b.xml", "empty"),
        ("a\nb.xml", "control characters"),
        ("/".join(["d"] * 20), "directories deep"),
        ("", "must not be empty"),
        (7, "must be a string"),
    ],
)
def test_a_junit_xml_that_is_no_relative_name_in_sandbox_is_refused_naming_it(
    junit_xml: Any, rule: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        _request(junit_xml=junit_xml)
    assert refused.value.field == "junit_xml" and rule in refused.value.rule
