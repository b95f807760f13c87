"""JUnit reports end to end: a real worker runs pytest --junitxml in greenbar/python-pytest under
the supervisor, and the report the run leaves becomes the result's tests, or a line in its log
saying why not; the colour stays the rag lambda's."""

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from tests.helpers import build_image, run, wait_until
from web import create_app

IMAGE = "greenbar/python-pytest"
LABELLED = "greenbar-test/junit-labelled"
TESTS = """import pytest


def test_passes():
    assert 6 * 7 == 42


def test_fails():
    assert 6 * 9 == 42, "life"


@pytest.fixture
def broken():
    raise RuntimeError("no fixture")


def test_errs(broken):
    pass


@pytest.mark.skip(reason="not yet")
def test_skipped():
    pass
"""
PYTEST = "python3 -m pytest -q test_life.py --junitxml=report.xml"


def _run(api: Any, script: str, image: str = IMAGE, **fields: Any) -> Any:
    return run(api, {"cyber-dojo.sh": script, "test_life.py": TESTS}, image=image, **fields)


def test_a_pytest_run_gives_each_test_s_name_status_message_and_duration(api: Any) -> None:
    result = _run(api, PYTEST, junit_xml="report.xml")
    assert result["outcome"] == "red", "the rag lambda's: 1 failed"
    tests = result["tests"]
    assert (tests["version"], tests["status"], tests["junit_xml"]) == (None, "error", "report.xml")
    by_name = {test["name"]: test for test in tests["tests"]}
    assert [(name, test["status"]) for name, test in by_name.items()] == [
        ("test_life.test_passes", "pass"),
        ("test_life.test_fails", "fail"),
        ("test_life.test_errs", "error"),
        ("test_life.test_skipped", "skip"),
    ]
    assert by_name["test_life.test_passes"]["message"] is None
    assert "AssertionError: life" in by_name["test_life.test_fails"]["message"]
    assert "RuntimeError: no fixture" in by_name["test_life.test_errs"]["message"]
    assert "not yet" in by_name["test_life.test_skipped"]["message"]
    assert all(
        isinstance(t["duration_ms"], int) and t["duration_ms"] >= 0 for t in by_name.values()
    )
    assert "JUnit" not in result["log"]


def test_what_a_test_printed_is_its_output_when_pytest_logs_it_to_the_report(api: Any) -> None:
    files = {
        "cyber-dojo.sh": "python3 -m pytest -q -o junit_logging=system-out --junitxml=r.xml",
        "test_says.py": "def test_says():\n    print('hello from the test')\n",
    }
    result = run(api, files, image=IMAGE, junit_xml="r.xml")
    assert result["outcome"] == "green"
    [test] = result["tests"]["tests"]
    assert test["status"] == "pass" and test["output"].strip() == "hello from the test"


def test_a_named_report_the_run_did_not_write_is_a_log_line_and_no_tests(api: Any) -> None:
    result = _run(api, "python3 -m pytest -q test_life.py", junit_xml="report.xml")
    assert result["outcome"] == "red" and "tests" not in result
    assert (
        "no JUnit report at report.xml, relative to /sandbox; cyber-dojo.sh exited with 1"
        in (result["log"])
    )


def test_a_report_larger_than_the_output_limit_is_cut_and_not_read(api: Any) -> None:
    files = {
        "cyber-dojo.sh": "python3 -m pytest -q -o junit_logging=system-out --junitxml=big.xml",
        "test_loud.py": "def test_loud():\n    print('x' * 100_000)\n",
    }
    result = run(api, files, image=IMAGE, junit_xml="big.xml")
    assert result["outcome"] == "green" and "tests" not in result
    assert result["created"]["big.xml"]["truncated"] is True
    assert "the JUnit report big.xml was cut" in result["log"]


def test_a_report_that_is_not_well_formed_is_a_log_line_and_no_tests(api: Any) -> None:
    script = "printf '<testsuite><testcase name=\"a\">' > report.xml; exit 1"
    result = _run(api, script, junit_xml="report.xml")
    assert result["outcome"] == "amber" and "tests" not in result
    assert "the JUnit report report.xml is not well-formed XML" in result["log"]


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<testsuite><testcase name="&lol4;"/></testsuite>
"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE testsuite [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<testsuite><testcase name="a"><failure>&secret;</failure></testcase></testsuite>
"""


@pytest.mark.parametrize("report", [BILLION_LAUGHS, EXTERNAL], ids=["laughs", "external"])
def test_a_report_declaring_entities_is_refused_with_a_log_line(api: Any, report: str) -> None:
    files = {"cyber-dojo.sh": "cp hostile.txt report.xml", "hostile.txt": report}
    result = run(api, files, image=IMAGE, junit_xml="report.xml")
    assert result["outcome"] == "green" and "tests" not in result
    assert "declares a document type or an entity" in result["log"]
    assert "root:" not in result["log"]


@pytest.fixture(scope="module")
def labelled(docker_client: docker.DockerClient, settings: Any, worker: Any) -> Iterator[Any]:
    """greenbar/python-pytest labelled greenbar.junit_xml=label.xml, and the API that allows it;
    the image is removed at the end."""
    steps = [
        f"FROM {IMAGE}",
        f"LABEL greenbar.test={uuid.uuid4().hex} greenbar.junit_xml=label.xml",
    ]
    image = build_image(docker_client, "\n".join(steps) + "\n", {}, f"{LABELLED}:latest")
    allowed = dataclasses.replace(settings, images=(*settings.images, LABELLED))
    yield create_app(allowed).test_client()

    def removed() -> bool:
        # The last run's container may still be on its way out (the worker removes it once
        # the result is recorded), and the engine will not remove an image a container runs.
        try:
            docker_client.images.remove(image.id, force=True)
        except docker.errors.NotFound:
            return True
        except docker.errors.APIError:
            return False
        return True

    wait_until(removed, 30, f"{LABELLED} to be removed")


TWO_REPORTS = (
    "python3 -m pytest -q test_life.py::test_passes --junitxml=label.xml\n"
    "python3 -m pytest -q test_life.py::test_fails --junitxml=asked.xml\n"
)


def test_an_image_s_label_names_the_report_when_the_request_does_not(labelled: Any) -> None:
    result = _run(labelled, TWO_REPORTS, image=LABELLED)
    assert result["tests"]["junit_xml"] == "label.xml"
    assert [t["name"] for t in result["tests"]["tests"]] == ["test_life.test_passes"]


def test_the_request_s_junit_xml_wins_over_the_image_s_label(labelled: Any) -> None:
    result = _run(labelled, TWO_REPORTS, image=LABELLED, junit_xml="asked.xml")
    assert result["tests"]["junit_xml"] == "asked.xml"
    assert [t["name"] for t in result["tests"]["tests"]] == ["test_life.test_fails"]
    assert result["outcome"] == "red", "the rag lambda's, from the last pytest's exit"
