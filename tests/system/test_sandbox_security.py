"""Hostile and careless code through the API and the real worker: it is contained, limited and
reported, and the next run is unaffected."""

import contextlib
import threading
import time

import psutil
import pytest

from tests.helpers import run

BUSYBOX = "greenbar/busybox-sh"
PYTHON = "greenbar/python-pytest"
MIB = 1024 * 1024
SAFETY_SECONDS = 2  # the most a timed-out run may take beyond its max_seconds


def _timed_run(api, files, **fields):
    started = time.monotonic()
    result = run(api, files, **fields)
    return result, time.monotonic() - started


def _post_and_wait(api, files, image=BUSYBOX, **fields):
    response = api.post("/runs?wait=25", json={"image": image, "files": files, **fields})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _run_containers(docker_client, run_id):
    return docker_client.containers.list(all=True, filters={"label": f"greenbar.run={run_id}"})


# Time


def test_a_run_that_loops_forever_is_timed_out_within_two_seconds_of_its_limit(api):
    script = "echo before the loop; while :; do :; done"
    result, seconds = _timed_run(api, {"cyber-dojo.sh": script}, max_seconds=2)
    assert seconds < 2 + SAFETY_SECONDS
    assert result["outcome"] == "timed_out"
    assert result["log"].startswith("timed out")
    assert result["stdout"]["content"] == "before the loop\n"


@pytest.mark.slow
def test_a_run_that_sleeps_forever_is_timed_out_within_two_seconds_of_its_limit(api):
    script = "echo before the sleep >&2; sleep 1000"
    result, seconds = _timed_run(api, {"cyber-dojo.sh": script}, max_seconds=3)
    assert seconds < 3 + SAFETY_SECONDS
    assert result["outcome"] == "timed_out"
    assert result["status"] == 137
    assert result["stderr"]["content"] == "before the sleep\n"


def test_a_run_that_ends_before_its_limit_is_not_timed_out(api):
    result = run(api, {"cyber-dojo.sh": "sleep 1; echo done"}, max_seconds=3)
    assert result["outcome"] != "timed_out"
    assert result["stdout"]["content"] == "done\n"


# Processes


@pytest.mark.slow
def test_a_fork_bomb_is_contained_and_the_next_run_works(api):
    bomb, seconds = _timed_run(api, {"cyber-dojo.sh": "f() { f | f & }; f; sleep 5"}, max_seconds=3)
    assert seconds < 3 + SAFETY_SECONDS
    assert bomb["outcome"] != "faulty", bomb["log"]
    after = run(api, {"cyber-dojo.sh": "echo still standing"})
    assert after["stdout"]["content"] == "still standing\n"


def test_a_background_daemon_does_not_hold_the_run_and_does_not_survive_it(api, docker_client):
    files = {
        "cyber-dojo.sh": (
            "cat /tmp/alive 2>/dev/null || echo no leftover\n"
            "sh -c 'while :; do date > /tmp/alive; sleep 0.1; done' &\n"
            "until [ -e /tmp/alive ]; do sleep 0.05; done; echo started\n"
        )
    }
    started = time.monotonic()
    first = _post_and_wait(api, files, max_seconds=10)
    assert first["result"]["outcome"] != "timed_out"
    assert first["result"]["stdout"]["content"] == "no leftover\nstarted\n"
    assert time.monotonic() - started < 10
    assert _run_containers(docker_client, first["id"]) == []
    second = run(api, files, max_seconds=10)
    assert second["stdout"]["content"] == "no leftover\nstarted\n"


def test_a_daemon_in_a_session_of_its_own_does_not_hold_the_run(api):
    files = {
        "cyber-dojo.sh": (
            "setsid sh -c 'touch /tmp/own-session; while :; do sleep 1; done' &\n"
            "until [ -e /tmp/own-session ]; do sleep 0.05; done; echo started\n"
        )
    }
    started = time.monotonic()
    result = run(api, files, max_seconds=3)
    assert result["outcome"] != "timed_out", result["log"]
    assert result["stdout"]["content"] == "started\n"
    assert time.monotonic() - started < 3


# Memory


def test_a_memory_hog_in_busybox_is_killed_and_reported_as_out_of_memory(api):
    script = "dd if=/dev/zero of=/dev/null bs=900M count=1; echo dd=$?"
    result = run(api, {"cyber-dojo.sh": script})
    assert "out of memory" in result["log"]
    assert result["stdout"]["content"] == "dd=137\n"


def test_a_memory_hog_in_python_is_killed_and_reported_as_out_of_memory(api):
    script = "python3 -c 'block = b\"x\" * 2**30'; echo python=$?"
    result = run(api, {"cyber-dojo.sh": script}, image=PYTHON)
    assert "out of memory" in result["log"]
    assert result["stdout"]["content"] == "python=137\n"


def test_a_run_within_its_memory_says_nothing_of_memory(api):
    result = run(api, {"cyber-dojo.sh": "dd if=/dev/zero of=/dev/null bs=100M count=1"})
    assert "out of memory" not in result["log"]


def _tree_rss(pid: int) -> int:
    root = psutil.Process(pid)
    total = 0
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):  # a child may end while we count
            total += process.memory_info().rss
    return total


@pytest.mark.slow
def test_a_gibibyte_of_stdout_is_truncated_without_growing_the_worker(api, worker):
    run(api, {"cyber-dojo.sh": "echo warm"})  # both pool children have imported what they use
    before = _tree_rss(worker.pid)
    peak = [before]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak.append(_tree_rss(worker.pid))
            stop.wait(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        script = "dd if=/dev/zero bs=1M count=1024 2>/dev/null | tr '\\0' x"
        result = run(api, {"cyber-dojo.sh": script}, max_seconds=20)
    finally:
        stop.set()
        sampler.join()
    assert result["outcome"] != "timed_out"
    assert result["stdout"] == {"content": "x" * 50 * 1024, "truncated": True}
    assert max(peak) - before < 50 * MIB, f"grew {(max(peak) - before) / MIB:.1f} MiB"


# Network, file system, identity


def test_there_is_no_network_but_loopback(api):
    script = (
        "wget -q -T 2 -O /dev/null http://1.1.1.1/; echo wget=$?\n"
        "nc -w 2 1.1.1.1 53 </dev/null; echo nc=$?\n"
        "ls /sys/class/net\n"
    )
    result = run(api, {"cyber-dojo.sh": script}, max_seconds=8)
    lines = result["stdout"]["content"].splitlines()
    assert lines[0].startswith("wget=") and lines[0] != "wget=0"
    assert lines[1].startswith("nc=") and lines[1] != "nc=0"
    assert lines[2:] == ["lo"]


def test_only_sandbox_and_tmp_are_writable(api):
    script = (
        "for d in / /etc /usr /bin /sandbox /tmp; do\n"
        '  if echo x > "$d/probe" 2>/dev/null; then echo "$d writable"; '
        'else echo "$d refused"; fi\n'
        "done\n"
    )
    result = run(api, {"cyber-dojo.sh": script})
    assert result["stdout"]["content"].splitlines() == [
        "/ refused",
        "/etc refused",
        "/usr refused",
        "/bin refused",
        "/sandbox writable",
        "/tmp writable",
    ]


def test_the_run_is_a_uid_of_its_own_without_capabilities_or_a_way_to_gain_them(api, settings):
    script = "id -u; id -g; grep -E '^(CapEff|CapPrm|NoNewPrivs)' /proc/self/status"
    result = run(api, {"cyber-dojo.sh": script})
    said = result["stdout"]["content"].split()
    uid = int(said[0])
    assert settings.uid_base <= uid <= settings.last_uid
    assert run(api, {"cyber-dojo.sh": "id -u"})["stdout"]["content"] != f"{uid}\n"
    assert said == [
        str(uid),
        str(uid),
        "CapPrm:",
        "0000000000000000",
        "CapEff:",
        "0000000000000000",
        "NoNewPrivs:",
        "1",
    ]


def test_symlinks_out_of_the_sandbox_are_not_returned(api):
    files = {
        "cyber-dojo.sh": (
            "ln -s /etc/passwd passwd\n"
            "ln -s ../.. up\n"
            "ln -s /etc etc\n"
            "rm hiker.txt; ln -s /etc/passwd hiker.txt\n"
            "ln /etc/passwd hard 2>/dev/null || echo hard link refused\n"
            "cat passwd up/etc/passwd | grep -c root\n"
        ),
        "hiker.txt": "hiker\n",
    }
    result = run(api, files)
    assert result["stdout"]["content"] == "hard link refused\n2\n"
    assert result["created"] == {}
    assert result["changed"] == {}


def test_a_fifo_is_not_returned_and_does_not_block_the_run(api):
    files = {"cyber-dojo.sh": "mkfifo new.pipe; rm sent.txt; mkfifo sent.txt", "sent.txt": "s\n"}
    result = run(api, files, max_seconds=3)
    assert result["outcome"] != "timed_out"
    assert result["created"] == {}
    assert result["changed"] == {}


# Disk


@pytest.mark.slow
def test_millions_of_empty_files_end_in_no_space_left_not_out_of_memory(api):
    script = "i=0; while touch f$i; do i=$((i + 1)); done; echo made $i files"
    result = run(api, {"cyber-dojo.sh": script})
    assert "No space left on device" in result["stderr"]["content"]
    assert "out of memory" not in result["log"]
    assert result["stdout"]["content"].startswith("made ")
    assert len(result["created"]) == 16


def test_a_file_beyond_64_mib_is_refused_by_the_file_size_limit(api):
    script = "dd if=/dev/zero of=sparse bs=1M seek=70 count=1 2>/dev/null; echo dd=$?"
    result = run(api, {"cyber-dojo.sh": script})
    said = result["stdout"]["content"] + result["stderr"]["content"]
    assert result["stdout"]["content"].startswith("dd=")
    assert result["stdout"]["content"] != "dd=0\n"
    assert "File too large" in said or "File size limit exceeded" in said or "dd=153" in said


def test_writing_65_mib_fails_and_the_run_still_reports(api):
    script = "dd if=/dev/zero of=big bs=1M count=65 2>/dev/null; echo dd=$?; rm big; echo ok"
    result = run(api, {"cyber-dojo.sh": script})
    assert result["stdout"]["content"].splitlines()[0] != "dd=0"
    assert result["stdout"]["content"].endswith("ok\n")


def test_a_run_that_fills_tmp_with_data_still_reports_its_output_and_status(api):
    script = "echo before; dd if=/dev/zero of=/tmp/fill bs=1M count=20 2>/dev/null; echo after"
    result = run(api, {"cyber-dojo.sh": script})
    assert result["outcome"] != "faulty", result["log"]
    assert result["stdout"]["content"] == "before\nafter\n"
    assert result["status"] == 0


def test_a_run_that_uses_up_the_inodes_of_tmp_still_reports_its_output_and_status(api):
    script = "echo before; i=0; while touch /tmp/f$i 2>/dev/null; do i=$((i + 1)); done; echo after"
    result = run(api, {"cyber-dojo.sh": script})
    assert result["outcome"] != "faulty", result["log"]
    assert result["stdout"]["content"] == "before\nafter\n"
    assert result["status"] == 0
