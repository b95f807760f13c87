"""exercism's test-runner interface, pure parts: reading results.json (versions 1 to 3)
strictly and within bounds, the colour it gives, the labels that declare an image's interface,
and the cyber-dojo.sh greenbar writes for it."""

import json
from dataclasses import replace
from typing import Any

import pytest

from app.colour.exercism import MAX_BYTES, MAX_TESTS, Unreadable, parse, verdict
from app.config import Settings
from app.errors import InvalidRequest
from app.images.allowlist import Allowlist
from app.outcomes import Outcome
from app.sandbox import exercism
from app.sandbox.result import RunResult
from app.sandbox.text import Text
from web.schemas import run_request

V1_FAIL = {"version": 1, "status": "fail", "message": "Failed: test_answer\n54 != 42"}
V2_FAIL = {
    "version": 2,
    "status": "fail",
    "message": None,
    "tests": [
        {"name": "answer", "status": "fail", "message": "54 != 42", "test_code": "assert a()"},
        {"name": "greeting", "status": "pass", "output": "hello\n"},
    ],
}
V3_PASS = {
    "version": 3,
    "status": "pass",
    "tests": [{"name": "oven time", "status": "pass", "task_id": 1, "test_code": "t()"}],
}


def _parsed(document: Any) -> Any:
    return parse(json.dumps(document))


def test_a_version_1_file_gives_its_status_and_message_and_no_single_tests() -> None:
    assert _parsed(V1_FAIL) == {
        "version": 1,
        "status": "fail",
        "message": "Failed: test_answer\n54 != 42",
        "tests": [],
    }


def test_a_version_2_file_gives_every_test_in_order_with_absent_fields_as_none() -> None:
    tests = _parsed(V2_FAIL)
    assert (tests["version"], tests["status"], tests["message"]) == (2, "fail", None)
    assert tests["tests"] == [
        {
            "name": "answer",
            "status": "fail",
            "message": "54 != 42",
            "output": None,
            "test_code": "assert a()",
            "task_id": None,
        },
        {
            "name": "greeting",
            "status": "pass",
            "message": None,
            "output": "hello\n",
            "test_code": None,
            "task_id": None,
        },
    ]


def test_a_version_3_file_links_tests_to_tasks_and_version_2_ignores_task_ids() -> None:
    assert _parsed(V3_PASS)["tests"][0]["task_id"] == 1
    as_v2 = {**V3_PASS, "version": 2}
    assert _parsed(as_v2)["tests"][0]["task_id"] is None


def test_an_error_needs_no_tests_but_a_message() -> None:
    tests = _parsed({"version": 3, "status": "error", "message": "SyntaxError: line 4"})
    assert (tests["status"], tests["message"], tests["tests"]) == (
        "error",
        "SyntaxError: line 4",
        [],
    )
    refused = _parsed({"version": 3, "status": "error"})
    assert isinstance(refused, Unreadable) and "message is required" in refused.why


def test_unknown_keys_are_ignored_as_later_versions_may_add_some() -> None:
    tests = _parsed({**V3_PASS, "runner": "python", "tests": [{**V3_PASS["tests"][0], "x": 1}]})
    assert not isinstance(tests, Unreadable) and tests["status"] == "pass"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "is not JSON"),
        ('{"version": 3, "status": "pass", "tests": [', "is not JSON"),
        ('{"version": NaN, "status": "pass"}', "NaN is not a JSON number"),
        ("[" * 100_000 + "]" * 100_000, "is not JSON"),
        ("[]", "the top level must be an object"),
        ('{"status": "pass", "tests": []}', "version is required"),
        ('{"version": 4, "status": "pass", "tests": []}', "version must be 1, 2 or 3, not 4"),
        ('{"version": true, "status": "pass"}', "version must be a whole number, not bool"),
        ('{"version": 3.0, "status": "pass"}', "version must be a whole number, not float"),
        ('{"version": 2, "status": "passed", "tests": []}', "status must be pass, fail or error"),
        ('{"version": 2, "status": "pass"}', "tests is required"),
        ('{"version": 2, "status": "pass", "tests": {}}', "tests must be an array, not dict"),
        ('{"version": 1, "status": "fail"}', "message is required when a version 1 file fails"),
        ('{"version": 1, "status": "pass", "message": 7}', "message must be a string, not int"),
        ('{"version": 2, "status": "pass", "tests": [7]}', "tests[0] must be an object"),
        ('{"version": 2, "status": "fail", "tests": [{"status": "fail"}]}', "tests[0].name is"),
        (
            '{"version": 2, "status": "fail", "tests": [{"name": "a", "status": "skip"}]}',
            "tests[0].status must be pass, fail or error, not 'skip'",
        ),
        (
            '{"version": 3, "status": "pass", "tests": [{"name": "a", "status": "pass", '
            '"task_id": "1"}]}',
            "tests[0].task_id must be a whole number, not str",
        ),
    ],
)
def test_a_malformed_results_json_is_unreadable_saying_why(text: str, said: str) -> None:
    found = parse(text)
    assert isinstance(found, Unreadable), found
    assert said in found.why


def test_an_oversized_results_json_is_refused_unparsed() -> None:
    padding = "x" * MAX_BYTES
    found = parse(json.dumps({**V1_FAIL, "message": padding}))
    assert isinstance(found, Unreadable) and "over 1024 KiB" in found.why


def test_more_tests_than_the_bound_are_refused() -> None:
    many = [{"name": f"t{i}", "status": "pass"} for i in range(MAX_TESTS + 1)]
    found = _parsed({"version": 2, "status": "pass", "tests": many})
    assert isinstance(found, Unreadable) and f"over {MAX_TESTS}" in found.why
    assert not isinstance(_parsed({"version": 2, "status": "pass", "tests": many[:-1]}), Unreadable)


@pytest.mark.parametrize(
    ("status", "colour"),
    [("pass", Outcome.GREEN), ("fail", Outcome.RED), ("error", Outcome.AMBER)],
)
def test_pass_is_green_fail_red_and_error_amber(status: str, colour: Outcome) -> None:
    tests = _parsed({"version": 3, "status": status, "message": "m", "tests": []})
    assert not isinstance(tests, Unreadable)
    assert verdict(tests).outcome == colour


def test_an_image_declares_the_interface_by_label_with_run_sh_at_exercisms_place_by_default():
    assert exercism.declared({}) is None
    assert exercism.declared({"greenbar.interface": "cyber-dojo"}) is None
    assert exercism.declared({"greenbar.interface": "exercism"}) == exercism.Interface(
        "/opt/test-runner/bin/run.sh"
    )
    elsewhere = {"greenbar.interface": "exercism", "greenbar.exercism.run-sh": "/r/run.sh"}
    assert exercism.declared(elsewhere) == exercism.Interface("/r/run.sh")


def test_the_written_cyber_dojo_sh_empties_the_output_dir_then_execs_run_sh_quoted() -> None:
    script = exercism.Interface("/opt/my runner/run.sh").script("two-fer")
    lines = [line for line in script.splitlines() if not line.startswith("#")]
    assert lines == [
        "rm -rf ./.greenbar-exercism && mkdir ./.greenbar-exercism || exit 1",
        "exec '/opt/my runner/run.sh' two-fer /sandbox/ /sandbox/.greenbar-exercism/",
    ]


def _ran(created: dict[str, Text], truncated: bool = False, status: int = 0) -> RunResult:
    empty = Text(content="", truncated=False)
    return RunResult(None, empty, empty, status, "", 1, "i", "d", "n", created, truncated)


def test_a_run_without_results_json_says_so_and_how_run_sh_ended() -> None:
    found = exercism.results(_ran({}, status=2))
    assert isinstance(found, Unreadable)
    assert "wrote no .greenbar-exercism/results.json" in found.why and "exited with 2" in found.why
    lost = exercism.results(_ran({}, truncated=True))
    assert isinstance(lost, Unreadable) and "not among the created files" in lost.why


def test_a_results_json_cut_at_the_created_file_limit_is_not_read() -> None:
    cut = Text(content=json.dumps(V1_FAIL)[:20], truncated=True)
    found = exercism.results(_ran({exercism.RESULTS: cut}))
    assert isinstance(found, Unreadable) and "was cut" in found.why


def test_a_whole_results_json_is_read_from_the_created_files() -> None:
    whole = Text(content=json.dumps(V3_PASS), truncated=False)
    found = exercism.results(_ran({exercism.RESULTS: whole, "other.txt": whole}))
    assert not isinstance(found, Unreadable) and found["tests"][0]["name"] == "oven time"


def test_a_result_with_tests_keeps_them_in_its_wire_form_and_one_without_leaves_them_out() -> None:
    tests = _parsed(V3_PASS)
    coloured = replace(_ran({}), outcome=Outcome.GREEN)
    assert "tests" not in coloured.to_wire()
    wire = replace(coloured, tests=tests).to_wire()
    assert wire["tests"] == tests
    assert RunResult.from_wire(json.loads(json.dumps(wire))).tests == tests


# The run request's `exercise` (web/schemas.py over web/contract.py)


def _request(**body: Any) -> Any:
    allowed = Allowlist(["greenbar/python-exercism"])
    body = {"image": "greenbar/python-exercism", **body}
    return run_request(body, Settings(), allowed, None)  # type: ignore[arg-type]


def test_a_run_naming_an_exercise_needs_no_cyber_dojo_sh_and_carries_the_slug() -> None:
    request = _request(files={"hiker.py": "x = 1\n"}, exercise="two-fer")
    assert (request.exercise, request.files) == ("two-fer", {"hiker.py": "x = 1\n"})
    assert _request(files={"cyber-dojo.sh": "true"}).exercise is None, "no default"


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"exercise": "Two Fer"}, "exercise", "must match"),
        ({"exercise": "-x"}, "exercise", "must match"),
        ({"exercise": "x" * 65}, "exercise", "must match"),
        ({"exercise": 7}, "exercise", "must be a string"),
        (
            {"exercise": "two-fer", "files": {"cyber-dojo.sh": "true"}},
            "files[cyber-dojo.sh]",
            "greenbar writes it",
        ),
        ({"files": {"hiker.py": ""}}, "files", "must contain cyber-dojo.sh"),
    ],
)
def test_a_bad_exercise_or_a_cyber_dojo_sh_beside_one_is_refused_naming_the_field(
    body: dict[str, Any], field: str, rule: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        _request(**{"files": {"hiker.py": ""}, **body})
    assert refused.value.field == field and rule in refused.value.rule
