"""The Runner, SupervisorVolume and UidAllocator as they are, over a MemoryEngine that plays
the sandbox's part and a private Redis: every way a run can end, in seconds, with no Docker."""

import socket

import pytest

from app.errors import EngineUnavailable
from app.externals.clock import ManualClock
from app.externals.memory_engine import Program
from app.sandbox.feed import MAGIC as REQUEST_MAGIC
from app.sandbox.spec import container_name
from app.sandbox.supervisor import binary
from tests.contract.conftest import IMAGE, fixture_private_redis, fixture_run_path  # noqa: F401
from tests.contract.programs import supervisor_result

FILES = {"cyber-dojo.sh": "echo hello; echo oops >&2; exit 2", "hiker.txt": "six times nine"}


def test_a_run_that_finishes_brings_back_its_output_status_and_created_files(run_path):
    outcome = supervisor_result(
        2, stdout=b"hello\n", stderr=b"oops\n", created={"answer.txt": b"42\n"}
    )
    digest = run_path.engine.add_image(IMAGE, program=Program(stdout=outcome))
    result = run_path.runner(ManualClock()).run(IMAGE, FILES, 10, "finishes")
    assert (result.outcome, result.status) == (None, 2)
    assert result.stdout["content"] == "hello\n"
    assert result.stderr["content"] == "oops\n"
    assert result.created["answer.txt"]["content"] == "42\n"
    assert (result.digest, result.warm, result.log) == (digest, False, "")


def test_a_run_brings_back_what_the_supervisor_measured_and_no_oom_kill(run_path):
    played = supervisor_result(
        0,
        metrics={"oom_kills": 0, "run_ms": 512, "sandbox_kib": 4},
        usage={"cpu_ms": 480, "memory_peak_kib": 102_400},
    )
    run_path.engine.add_image(IMAGE, program=Program(stdout=played))
    result = run_path.runner(ManualClock()).run(IMAGE, FILES, 10, "measured")
    assert (result.run_ms, result.cpu_ms, result.memory_peak_kib) == (512, 480, 102_400)
    assert result.oom_killed is False and result.log == ""


def test_a_run_whose_cgroup_could_not_be_read_has_its_measures_unknown(run_path):
    played = supervisor_result(0, metrics={"run_ms": 3}, usage={})
    run_path.engine.add_image(IMAGE, program=Program(stdout=played))
    result = run_path.runner(ManualClock()).run(IMAGE, FILES, 10, "unmeasured")
    assert (result.run_ms, result.cpu_ms, result.memory_peak_kib) == (3, None, None)


def test_a_run_with_a_process_killed_for_memory_is_flagged_and_left_to_the_rule(run_path):
    played = supervisor_result(
        137,
        stderr=b"Killed\n",
        metrics={"oom_kills": 1, "run_ms": 900},
        usage={"cpu_ms": 300, "memory_peak_kib": 131_072},
    )
    run_path.engine.add_image(IMAGE, program=Program(stdout=played))
    result = run_path.runner(ManualClock()).run(IMAGE, FILES, 10, "oom-process")
    assert (result.outcome, result.status, result.oom_killed) == (None, 137, True)
    assert result.log.startswith("out of memory: a process was killed")
    assert result.memory_peak_kib == 131_072


def test_the_request_reaches_the_container_s_stdin_in_a_container_named_after_the_run(run_path):
    run_path.engine.add_image(IMAGE, program=Program(stdout=supervisor_result(0)))
    runner = run_path.runner(ManualClock())
    runner.run(IMAGE, FILES, 10, "stdin")
    received = run_path.engine.received(container_name("stdin"))
    assert received.startswith(REQUEST_MAGIC) and received.endswith(b"E\0\0\0\0")
    assert FILES["cyber-dojo.sh"].encode() in received and b"six times nine" in received
    assert [c.name for c in run_path.engine.labelled("greenbar.run=stdin")] == [
        container_name("stdin")
    ]
    runner.dispose()
    assert run_path.engine.labelled("greenbar.run=stdin") == []


def test_the_supervisor_volume_is_loaded_with_the_binary_once(run_path):
    run_path.engine.add_image(IMAGE, program=Program(stdout=supervisor_result(0)))
    runner = run_path.runner(ManualClock())
    for run_id in ("first", "second"):
        assert runner.run(IMAGE, FILES, 10, run_id).outcome is None
    name = run_path.supervisor.name
    loaded = run_path.engine.volume_files(name)
    assert loaded["supervisor"] == (binary(run_path.settings.supervisor_binary), 0o555)
    assert run_path.engine.volume_labels(name) == run_path.supervisor.labels


def test_a_run_s_duration_is_measured_on_the_runner_s_clock(run_path):
    clock = ManualClock()

    def takes_a_second_and_a_quarter(stdin: bytes) -> bytes:
        clock.advance(1.25)
        return supervisor_result(0)

    run_path.engine.add_image(IMAGE, program=Program(stdout=takes_a_second_and_a_quarter))
    assert run_path.runner(clock).run(IMAGE, FILES, 10, "timed").duration_ms == 1250


def test_a_run_that_hangs_is_timed_out_by_the_host_and_its_container_removed(run_path):
    run_path.engine.add_image(IMAGE, program=Program(hangs=True))
    # The real clock: the stream waits on real socket timeouts (a short grace keeps it quick).
    runner = run_path.runner(grace=0.2)
    result = runner.run(IMAGE, FILES, 1, "hangs")
    assert (result.outcome, result.status) == ("timed_out", 137)
    assert "no result within 1 s" in result.log
    runner.dispose()
    assert run_path.engine.state(container_name("hangs")) is None


def test_a_run_the_supervisor_timed_out_is_timed_out_with_its_output(run_path):
    said = supervisor_result(137, stdout=b"still going", timed_out=True)
    run_path.engine.add_image(IMAGE, program=Program(stdout=said))
    result = run_path.runner(ManualClock()).run(IMAGE, FILES, 3, "supervised-timeout")
    assert (result.outcome, result.status) == ("timed_out", 137)
    assert result.stdout["content"] == "still going"
    assert "killed after 3 s" in result.log


def test_a_container_that_dies_without_a_result_is_faulty_with_its_exit_code(run_path):
    run_path.engine.add_image(IMAGE, program=Program(exit_code=121, reads_stdin=False))
    result = run_path.runner(ManualClock()).run(IMAGE, FILES, 10, "dies")
    assert (result.outcome, result.status) == ("faulty", -1)
    assert "ended without a result (exit code 121)" in result.log


def test_a_sandbox_killed_for_memory_is_completed_with_137_and_says_so(run_path):
    run_path.engine.add_image(IMAGE, program=Program(oom_killed=True))
    result = run_path.runner(ManualClock()).run(IMAGE, FILES, 10, "oom")
    assert (result.outcome, result.status, result.oom_killed) == (None, 137, True)
    assert result.log.startswith("out of memory")
    assert str(run_path.settings.memory_mib) in result.log
    assert (result.run_ms, result.cpu_ms, result.memory_peak_kib) == (None, None, None)


def test_an_oom_kill_the_engine_records_a_moment_late_is_still_told_as_one(run_path):
    run_path.engine.add_image(IMAGE, program=Program(oom_killed=True, oom_flag_late=3))
    clock = ManualClock()
    result = run_path.runner(clock).run(IMAGE, FILES, 10, "late")
    assert (result.outcome, result.status) == (None, 137)
    assert result.log.startswith("out of memory")
    assert len(clock.slept) == 3  # it looked again until the flag came


def test_a_container_killed_without_the_flag_is_faulty_once_the_flag_is_waited_for(run_path):
    run_path.engine.add_image(IMAGE, program=Program(oom_killed=True, oom_flag_late=10_000))
    clock = ManualClock()
    result = run_path.runner(clock).run(IMAGE, FILES, 10, "never")
    assert result.outcome == "faulty" and "exit code 137" in result.log
    assert result.oom_killed is False
    assert 1.0 <= sum(clock.slept) < 1.2  # OOM_FLAG_SECONDS, then no longer


def test_a_run_of_an_image_the_node_lacks_is_pulling_and_makes_nothing(run_path):
    result = run_path.runner(ManualClock()).run("greenbar/not-here", FILES, 10, "pulling")
    assert (result.outcome, result.digest) == ("pulling", "")
    assert run_path.engine.labelled("greenbar.kind") == []
    assert run_path.engine.volumes([]) == []  # not even the supervisor's


def test_an_engine_that_is_down_is_raised_not_reported(run_path):
    run_path.engine.add_image(IMAGE, program=Program(stdout=supervisor_result(0)))
    run_path.engine.down = True
    with pytest.raises(EngineUnavailable):
        run_path.runner(ManualClock()).run(IMAGE, FILES, 10, "down")


def test_the_stand_in_frames_each_write_as_dockerd_does(run_path):
    """The framing the runner's stream reads, byte for byte (the contract checks it against
    dockerd by payload; here the exact header)."""
    run_path.engine.add_image(IMAGE, program=Program(stdout=b"ab", stderr=b"c", reads_stdin=False))
    run_path.engine.create({"image": IMAGE, "name": "framed"})
    sock = run_path.engine.attach("framed")
    assert isinstance(sock, socket.socket)  # a real one: the runner half-closes it
    run_path.engine.start("framed")
    with sock:
        sock.settimeout(5)
        received = b"".join(iter(lambda: sock.recv(4096), b""))
    assert received == b"\1\0\0\0\0\0\0\2ab" + b"\2\0\0\0\0\0\0\1c"
    run_path.engine.remove("framed")
