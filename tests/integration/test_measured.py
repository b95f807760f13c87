"""What a run measures of itself through the real worker and the real supervisor: its CPU
time, its memory high-water mark, its own wall time, and whether the kernel killed it for
memory. Bounds are generous safety nets, never timings (speed goals live in bench/)."""

from tests.helpers import run

PYTHON = "greenbar/python-pytest"
MIB = 1024
# Half a second of CPU, whatever else the machine is doing: process_time counts only this one.
BUSY = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end:\n    pass\n"


def test_a_busy_loop_of_half_a_second_reports_its_cpu_time_and_a_run_time_at_least_as_long(api):
    result = run(api, {"cyber-dojo.sh": "python3 busy.py", "busy.py": BUSY}, image=PYTHON)
    assert result["status"] == 0, result
    assert 200 <= result["cpu_ms"] <= 3000, result
    assert result["run_ms"] >= result["cpu_ms"] / 2, result
    assert result["duration_ms"] >= result["run_ms"], result
    assert result["oom_killed"] is False


def test_a_run_that_holds_a_hundred_mebibytes_reports_a_peak_of_at_least_ninety(api):
    script = "python3 -c 'block = b\"x\" * (100 << 20); print(len(block))'"
    result = run(api, {"cyber-dojo.sh": script}, image=PYTHON)
    assert result["stdout"]["content"] == f"{100 << 20}\n", result
    assert result["memory_peak_kib"] >= 90 * MIB, result
    assert result["oom_killed"] is False


def test_a_program_that_exceeds_its_memory_is_oom_killed_and_amber_by_its_rule(api):
    script = "python3 -c 'block = b\"x\" * 2**30'"
    result = run(api, {"cyber-dojo.sh": script}, image=PYTHON)
    assert (result["oom_killed"], result["status"], result["outcome"]) == (True, 137, "amber")
    assert result["log"].startswith("out of memory")
    assert result["memory_peak_kib"] is None or result["memory_peak_kib"] >= 512 * MIB


def test_a_small_run_is_not_oom_killed_and_measures_something(api):
    result = run(api, {"cyber-dojo.sh": "echo hello"})
    assert (result["outcome"], result["oom_killed"]) == ("amber", False)
    assert result["cpu_ms"] >= 0 and result["memory_peak_kib"] > 0 and result["run_ms"] >= 0
