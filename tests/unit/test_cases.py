"""Test cases without Docker: what goes to the supervisor, how its case frames are read, how
a request's cases are checked, and how the cases colour a run."""

import dataclasses
import struct

import pytest

from app.colour import cases as judge
from app.config import Settings
from app.errors import InvalidRequest
from app.jobs.requests import RunRequest
from app.outcomes import Outcome
from app.sandbox.cases import Case, CaseResult, validated
from app.sandbox.feed import Limits, request
from app.sandbox.harvest import CaseHarvest, Harvest, Harvester
from app.sandbox.result import RunResult
from app.sandbox.runner import _cases_log
from tests.unit.test_units import _harvest, _OnlyRead, _out

IMAGE = "greenbar/busybox-sh"
FILES = {"cyber-dojo.sh": "tr a-z A-Z"}
RAN = {"status": 0, "timed_out": 0, "run_ms": 5, "oom_kills": 0, "started": 1}


def _q(index: int, out: bytes = b"", err: bytes = b"", **meta: int) -> tuple[str, bytes]:
    said = "".join(f"{k}={v}\n" for k, v in {"index": index, **RAN, **meta}.items()).encode()
    return "Q", struct.pack(">H", len(said)) + said + struct.pack(">I", len(out)) + out + err


def _frames(feed: bytes) -> list[tuple[bytes, bytes]]:
    frames, at = [], 8
    while at < len(feed):
        kind, length = feed[at : at + 1], struct.unpack(">I", feed[at + 1 : at + 5])[0]
        frames.append((kind, feed[at + 5 : at + 5 + length]))
        at += 5 + length
    return frames


# What goes in


def test_each_case_goes_in_as_an_a_frame_with_its_limit_arguments_and_stdin():
    cases = [Case(stdin="ada", args=("one", "π"), max_seconds=1.5), Case()]
    frames = [
        p for kind, p in _frames(request(Limits(10, 51, 16), FILES, cases=cases)) if kind == b"A"
    ]
    assert frames[0] == struct.pack(">IBH", 1500, 1, 2) + b"\0\x03one\0\x02\xcf\x80ada"
    assert frames[1] == struct.pack(">IBH", 0, 0, 0), "no limit: 0, a fair share; no stdin"


def test_a_tiny_case_limit_is_never_sent_as_zero_which_would_mean_a_fair_share():
    feed = request(Limits(10, 51, 16), FILES, cases=[Case(max_seconds=0.0001)])
    frame = next(p for kind, p in _frames(feed) if kind == b"A")
    assert struct.unpack(">I", frame[:4])[0] == 1


# What comes out


def _harvest_cases(stream: bytes, cases: int, limit: int = 101) -> Harvest:
    return Harvester(limit, 1, 16, 0, cases).harvest(_OnlyRead(stream))


def test_case_frames_are_read_in_order_with_their_measures_and_heads():
    stream = _out(
        ("S", b"0"), ("B", b""), _q(0, b"A", b"", cpu_ms=3), _q(1, b"", b"e", status=2), ("E", b"")
    )
    harvest = _harvest_cases(stream, cases=2)
    assert harvest.complete and harvest.built
    first, second = harvest.cases
    assert (first.meta["cpu_ms"], first.stdout, second.meta["status"], second.stderr) == (
        3,
        b"A",
        2,
        b"e",
    )


@pytest.mark.parametrize(
    ("frames", "said"),
    [
        ([_q(1)], "out of order"),
        ([_q(0), _q(0)], "out of order"),
        ([_q(0), _q(1), _q(2)], "more than 2 'Q' frames"),
        ([_q(0, run_ms=-1)], "negative"),
        ([_q(0, b"x" * 102)], "longer than its frame or its cap"),
        ([("Q", b"\0")], "too short"),
        ([_q(0, wanted=1)], "unknown or repeated metric"),
    ],
)
def test_a_case_frame_that_breaks_the_protocol_makes_the_result_malformed(frames, said):
    harvest = _harvest_cases(_out(("S", b"0"), *frames, ("E", b"")), cases=2)
    assert not harvest.complete
    assert said in harvest.problem


def test_a_run_without_cases_may_not_carry_case_frames():
    harvest = _harvest(_out(("S", b"0"), _q(0), ("E", b"")))
    assert not harvest.complete and "more than 0 'Q' frames" in harvest.problem


# How a request's cases are checked


def test_cases_within_the_rules_come_back_as_records():
    got = validated([{"stdin": "a", "args": ["x"], "max_seconds": 2}], 5, 64, Settings())
    assert got == (Case(stdin="a", args=("x",), max_seconds=2),)


@pytest.mark.parametrize(
    ("raw", "field", "rule"),
    [
        ([{}] * 4, "cases", "from 1 to 3"),
        ([{"max_seconds": 6}], "cases[0][max_seconds]", "at most the run's max_seconds (5)"),
        ([{}, {"args": ["a"] * 65}], "cases[1][args]", "at most 64 arguments"),
        ([{"args": ["a\0"]}], "cases[0][args]", "without NUL"),
        ([{"args": ["a" * 4097]}], "cases[0][args]", "at most 4096 bytes"),
        ([{"stdin": "x" * 2600}, {"expected_stdout": "x" * 1600}], "cases", "at most 4 KiB"),
        ([{"expected_stdout": "é" * 1025}], "cases[0][expected_stdout]", "output limit (2 KiB)"),
    ],
)
def test_cases_breaking_a_rule_are_refused_naming_the_field(raw, field, rule):
    with pytest.raises(InvalidRequest) as refused:
        validated(raw, 5, 2, Settings(cases_max=3, files_max_kib=4))
    assert (refused.value.field, rule in str(refused.value)) == (field, True), str(refused.value)


def test_a_run_request_with_cases_keeps_them_through_its_wire_form():
    asked = RunRequest(
        IMAGE, FILES, 5, cases=(Case("a", ("b",), "A", 1.5), Case()), compare="trimmed"
    )
    assert RunRequest.from_wire(asked.to_wire()) == asked


# How cases colour a run


def _ran(**case: object) -> CaseResult:
    said = {
        "stdout": {"content": "", "truncated": False},
        "stderr": {"content": "", "truncated": False},
        "status": 0,
        "timed_out": False,
        "oom_killed": False,
        "run_ms": 1,
        "cpu_ms": None,
        "memory_peak_kib": None,
        "passed": None,
    }
    return CaseResult(**{**said, **case})  # type: ignore[typeddict-item]


def _printed(text: str, truncated: bool = False, **case: object) -> CaseResult:
    return _ran(stdout={"content": text, "truncated": truncated}, **case)


def _result(cases: list[CaseResult], built: bool = False, status: int = 0) -> RunResult:
    empty = {"content": "", "truncated": False}
    return RunResult(None, empty, empty, status, "", 1, IMAGE, "", "n", built=built, cases=cases)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("got", "case", "compare", "passed"),
    [
        (_printed("ADA\n"), Case(expected_stdout="ADA\n"), "exact", True),
        (_printed("ADA"), Case(expected_stdout="ADA\n"), "exact", False),
        (_printed("ADA  \r\n\n\n"), Case(expected_stdout="ADA"), "trimmed", True),
        (_printed(" ADA"), Case(expected_stdout="ADA"), "trimmed", False),
        (_printed("ADA", truncated=True), Case(expected_stdout="ADA"), "exact", False),
        (_printed("ADA", status=1), Case(expected_stdout="ADA"), "exact", False),
        (_printed("ADA", timed_out=True), Case(expected_stdout="ADA"), "exact", False),
        (_printed("ADA", oom_killed=True), Case(expected_stdout="ADA"), "exact", False),
        (_ran(), Case(), "exact", True),
        (_ran(status=2), Case(), "exact", False),
        (_ran(status=None, timed_out=True), Case(), "exact", False),
    ],
)
def test_a_case_passes_only_when_it_ended_by_itself_with_0_printing_what_it_should(
    got, case, compare, passed
):
    judged = judge.judged(_result([got]), [case], compare)
    assert judged.cases is not None and judged.cases[0]["passed"] is passed


def test_every_case_passing_is_green_one_failing_red_a_failed_build_amber():
    ok, bad = _ran(passed=True), _ran(passed=False)
    assert judge.verdict(_result([ok, ok]), 2).outcome == Outcome.GREEN
    assert judge.verdict(_result([ok, bad]), 2) == judge.Verdict(
        Outcome.RED, "red: case(s) 1 did not pass"
    )
    assert judge.verdict(_result([], built=True, status=2), 1).outcome == Outcome.AMBER
    assert (
        judge.verdict(_result([ok], built=False, status=0), 3).log
        == "red: case(s) 1, 2 did not pass"
    )


def test_a_sandbox_killed_whole_for_memory_before_any_case_came_back_is_amber():
    # gVisor's way: the OOM kill takes the supervisor too, so no case frame ever arrives.
    whole = dataclasses.replace(_result([]), cases=None, oom_killed=True)
    assert judge.verdict(whole, 3) == judge.Verdict(
        Outcome.AMBER, "amber: out of memory before any case's result came back"
    )
    assert judge.verdict(dataclasses.replace(whole, oom_killed=False), 3).outcome == Outcome.RED


def test_cases_that_never_started_say_whether_time_ran_out_or_an_earlier_case_held_on():
    ran = CaseHarvest(meta={**RAN, "index": 0}, stdout=b"", stderr=b"")
    late = CaseHarvest(meta={**RAN, "index": 1, "started": 0}, stdout=b"", stderr=b"")
    blocked = CaseHarvest(
        meta={**RAN, "index": 1, "started": 0, "blocked": 1}, stdout=b"", stderr=b""
    )
    assert _cases_log(Harvest(cases=[ran, ran]), 5) == "2 case(s) ran"
    assert _cases_log(Harvest(cases=[ran, late], timed_out=True), 5) == (
        "timed out: the run's 5 s ran out; 1 case(s) never started"
    )
    said = _cases_log(Harvest(cases=[ran, blocked]), 5)
    assert said.startswith("1 case(s) never started: a process of an earlier case outlived")
