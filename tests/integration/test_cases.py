"""Test cases end to end: through the API, a real worker, the engine and the supervisor, on
the bundled images. build.sh once, then cyber-dojo.sh once per case in the same container."""

import json
from typing import Any

import pytest

from tests.helpers import run

PYTHON = "greenbar/python-pytest"
ECHO_ARGS = {"cyber-dojo.sh": 'echo "$@"'}
UPPER = {"cyber-dojo.sh": "tr a-z A-Z"}


def cases_of(result: dict[str, Any]) -> list[dict[str, Any]]:
    assert result["cases"] is not None, result
    return result["cases"]


def refusal(api: Any, **fields: Any) -> dict[str, str]:
    body = {"image": "greenbar/busybox-sh", "files": ECHO_ARGS, **fields}
    response = api.post("/runs", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 422, response.get_data(as_text=True)
    return response.get_json()["error"]


def test_every_case_printing_what_it_should_is_green(api):
    cases = [{"stdin": "ada\n", "expected_stdout": "ADA\n"}, {"stdin": "x", "expected_stdout": "X"}]
    result = run(api, UPPER, cases=cases)
    assert result["outcome"] == "green", result["log"]
    assert [case["passed"] for case in cases_of(result)] == [True, True]
    assert [case["stdout"]["content"] for case in cases_of(result)] == ["ADA\n", "X"]
    assert result["built"] is False


def test_one_case_printing_something_else_makes_the_run_red_and_says_which(api):
    cases = [{"stdin": "a", "expected_stdout": "A"}, {"stdin": "b", "expected_stdout": "c"}]
    result = run(api, UPPER, cases=cases)
    assert result["outcome"] == "red"
    assert [case["passed"] for case in cases_of(result)] == [True, False]
    assert "case(s) 1 did not pass" in result["log"]


def test_each_case_gets_its_own_arguments(api):
    cases = [{"args": ["one", "two words"]}, {"args": []}, {"args": ["-n", "$HOME"]}]
    result = run(api, ECHO_ARGS, cases=cases)
    got = [case["stdout"]["content"] for case in cases_of(result)]
    assert got == ["one two words\n", "\n", "$HOME"]
    assert result["outcome"] == "green", "without expected_stdout a case passes by exiting 0"


def test_a_case_that_crashes_or_times_out_fails_but_the_others_still_run(api):
    files = {
        "cyber-dojo.sh": 'case "$1" in crash) exit 3;; loop) while :; do :; done;; esac\necho ok'
    }
    cases = [
        {"args": ["crash"]},
        {"args": ["loop"], "max_seconds": 1},
        {"args": ["fine"], "expected_stdout": "ok\n"},
    ]
    result = run(api, files, cases=cases, max_seconds=10)
    crashed, looped, fine = cases_of(result)
    assert (crashed["status"], crashed["passed"], crashed["timed_out"]) == (3, False, False)
    assert looped["timed_out"] is True and looped["passed"] is False
    assert looped["cpu_ms"] is None or looped["cpu_ms"] > 0
    assert (fine["status"], fine["passed"]) == (0, True)
    assert result["outcome"] == "red"


def test_a_case_without_a_limit_of_its_own_gets_a_fair_share_so_a_runaway_cannot_starve_the_rest(
    api,
):
    files = {"cyber-dojo.sh": '[ "$1" = loop ] && sleep 60; echo ok'}
    cases = [{"args": ["loop"]}, {"expected_stdout": "ok\n"}, {"expected_stdout": "ok\n"}]
    result = run(api, files, cases=cases, max_seconds=3)
    looped, second, third = cases_of(result)
    assert looped["timed_out"] is True
    assert looped["run_ms"] <= 2500, "a third of 3 s, not the whole run's time"
    assert second["passed"] and third["passed"]
    assert result["outcome"] == "red"


def test_cases_the_run_s_time_never_reaches_are_reported_unstarted_and_the_run_timed_out(api):
    files = {"cyber-dojo.sh": "sleep 60"}
    cases = [{"max_seconds": 2}, {}, {}]
    result = run(api, files, cases=cases, max_seconds=2)
    first, second, third = cases_of(result)
    assert first["timed_out"] is True and first["status"] is not None
    assert second["status"] is None and third["status"] is None
    assert second["timed_out"] is True and second["passed"] is False
    assert result["outcome"] == "timed_out"
    assert "2 case(s) never started" in result["log"]


def test_build_sh_runs_once_before_the_cases_and_its_output_is_the_run_s(api):
    files = {
        "build.sh": "echo building; echo built >> built.log",
        "cyber-dojo.sh": "wc -l < built.log",
    }
    result = run(api, files, cases=[{"expected_stdout": "1\n"}] * 3)
    assert result["built"] is True
    assert result["stdout"]["content"] == "building\n"
    assert result["status"] == 0
    assert [case["passed"] for case in cases_of(result)] == [True, True, True]
    assert result["outcome"] == "green"
    assert result["created"]["built.log"]["content"] == "built\n"


def test_a_failing_build_sh_runs_no_case_and_is_amber_with_its_output(api):
    files = {"build.sh": "echo 'syntax error' >&2; exit 2", "cyber-dojo.sh": "echo never"}
    result = run(api, files, cases=[{"expected_stdout": "never\n"}])
    assert result["outcome"] == "amber"
    assert result["built"] is True
    assert result["status"] == 2
    assert result["stderr"]["content"] == "syntax error\n"
    assert cases_of(result) == []
    assert "build.sh failed (status 2): no case ran" in result["log"]


def test_a_build_sh_that_never_ends_is_timed_out_and_no_case_runs(api):
    files = {"build.sh": "sleep 60", "cyber-dojo.sh": "echo never"}
    result = run(api, files, cases=[{}], max_seconds=1)
    assert result["outcome"] == "timed_out"
    assert cases_of(result) == []


def test_trimmed_compare_ignores_trailing_spaces_and_newlines_and_exact_does_not(api):
    files = {"cyber-dojo.sh": "printf 'a  \\nb\\t\\n\\n'"}
    cases = [{"expected_stdout": "a\nb"}]
    trimmed = run(api, files, cases=cases, compare="trimmed")
    exact = run(api, files, cases=cases)
    assert cases_of(trimmed)[0]["passed"] is True
    assert cases_of(exact)[0]["passed"] is False
    assert (trimmed["outcome"], exact["outcome"]) == ("green", "red")


def test_a_case_stdin_larger_than_a_pipe_buffer_arrives_whole(api):
    size = 200 * 1024
    result = run(api, {"cyber-dojo.sh": "wc -c"}, cases=[{"stdin": "x" * size}, {"stdin": ""}])
    assert [case["stdout"]["content"].strip() for case in cases_of(result)] == [str(size), "0"]


def test_no_process_of_one_case_lives_into_the_next(api):
    files = {
        "cyber-dojo.sh": (
            'if [ "$1" = first ]; then (sleep 1; echo leaked > leak.txt) & exit 0; fi\n'
            "sleep 2; cat leak.txt 2>/dev/null || echo clean"
        )
    }
    result = run(api, files, cases=[{"args": ["first"]}, {"args": ["second"]}], max_seconds=10)
    assert cases_of(result)[1]["stdout"]["content"] == "clean\n"
    assert "leak.txt" not in result["created"]


@pytest.mark.host_kernel  # the container's cgroup readable from inside: not under gVisor
def test_each_case_reports_its_own_cpu_time_and_memory_peak(api):
    files = {"cyber-dojo.sh": 'python3 - "$@"'}
    program = (
        "import sys, time\n"
        "if sys.argv[1:] == ['big']:\n"
        "    block = bytearray(200 * 1024 * 1024)\n"
        "    block[::4096] = b'x' * len(block[::4096])\n"
        "elif sys.argv[1:] == ['busy']:\n"
        "    end = time.process_time() + 0.5\n"
        "    while time.process_time() < end: pass\n"
    )
    cases = [{"stdin": program, "args": ["big"]}, {"stdin": program, "args": ["busy"]}]
    result = run(api, files, image=PYTHON, cases=cases)
    big, busy = cases_of(result)
    assert big["status"] == 0 and busy["status"] == 0, result
    assert big["memory_peak_kib"] >= 200 * 1024
    assert busy["memory_peak_kib"] < 100 * 1024
    assert busy["cpu_ms"] >= 400
    assert result["memory_peak_kib"] >= 200 * 1024, "the run's peak, from its cgroup"


@pytest.mark.host_kernel  # under gVisor an OOM kill takes the whole sandbox (README)
def test_a_case_killed_for_memory_says_so_and_the_next_case_still_passes(api):
    hog = "b = [bytearray(2**20) for _ in range(4096)]"  # 4 GiB, a MiB at a time
    files = {"cyber-dojo.sh": f'if [ "$1" = hog ]; then python3 -c "{hog}"; fi; echo ok'}
    cases = [{"args": ["hog"], "expected_stdout": "ok\n"}, {"expected_stdout": "ok\n"}]
    result = run(api, files, image=PYTHON, cases=cases)
    hog, after = cases_of(result)
    assert hog["oom_killed"] is True, hog
    assert hog["passed"] is False
    assert after["oom_killed"] is False and after["passed"] is True
    assert result["oom_killed"] is True
    assert result["outcome"] == "red"


def test_a_run_without_cases_carries_no_cases_fields(api):
    result = run(api, ECHO_ARGS)
    assert "cases" not in result and "built" not in result


@pytest.mark.parametrize(
    ("fields", "field", "rule"),
    [
        ({"cases": []}, "cases", "at least 1"),
        ({"cases": [{}] * 33}, "cases", "at most 32"),
        ({"cases": [{"max_seconds": 5}], "max_seconds": 2}, "cases[0][max_seconds]", "at most"),
        ({"cases": [{"max_seconds": 0}]}, "cases[0][max_seconds]", "more than 0"),
        ({"cases": [{"args": ["a\0b"]}]}, "cases[0][args]", "NUL"),
        ({"cases": [{"args": "a"}]}, "cases[0][args]", "JSON array"),
        ({"cases": [{"stdout": "a"}]}, "cases[0][stdout]", "not a known field"),
        ({"cases": [{}], "stdin": "x"}, "stdin", "its own stdin"),
        ({"cases": [{}], "compare": "fuzzy"}, "compare", "one of exact, trimmed"),
        ({"compare": "trimmed"}, "compare", "only for a run with cases"),
        ({"cases": [{}], "rag_lambda": "lambda s, o, e: 'red'"}, "rag_lambda", "with cases"),
        ({"cases": [{}], "junit_xml": "report.xml"}, "junit_xml", "with cases"),
        (
            {"cases": [{"expected_stdout": "x" * 2049}], "output_limit_kib": 2},
            "cases[0][expected_stdout]",
            "at most the run's output limit (2 KiB)",
        ),
    ],
)
def test_a_malformed_cases_request_is_refused_with_422_naming_the_field(api, fields, field, rule):
    error = refusal(api, **fields)
    assert error["field"] == field, error
    assert rule in error["message"], error


def test_cases_over_the_size_bound_are_refused_with_422(api, settings):
    half = "x" * (settings.files_max_kib * 512 + 1)
    error = refusal(api, cases=[{"stdin": half}, {"stdin": half}])
    assert (error["field"], "KiB" in error["message"]) == ("cases", True)


def test_a_fork_bomb_in_one_case_is_swept_away_and_the_next_case_still_runs(api):
    files = {"cyber-dojo.sh": 'if [ "$1" = bomb ]; then f() { f | f & }; f; sleep 5; fi\necho ok'}
    cases = [{"args": ["bomb"], "max_seconds": 2}, {"expected_stdout": "ok\n"}]
    result = run(api, files, cases=cases, max_seconds=8)
    bomb, after = cases_of(result)
    assert bomb["passed"] is False
    assert after["passed"] is True, after
    assert result["outcome"] == "red"
