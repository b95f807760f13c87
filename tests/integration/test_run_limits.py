"""A run's own limits on the real engine, through the API and the session's worker: the
container's cgroup has the memory and CPUs asked for, a program over its asked memory is
killed for it, output is cut at the asked limit, and a limit over its image's cap is a 422."""

import dataclasses
import json
from pathlib import Path

import pytest

from cli.main import main
from tests.helpers import run
from web import create_app

PYTHON = "greenbar/python-pytest"
MIB = 1024 * 1024
# What the program itself sees of its container's limits (cgroup v1, as on this machine).
CGROUP = (
    "cat /sys/fs/cgroup/memory/memory.limit_in_bytes"
    " /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us"
)
HOLDS_200_MIB = "python3 -c 'block = b\"x\" * (200 << 20); print(len(block))'"


def test_the_cgroup_a_run_sees_has_the_memory_and_cpus_it_asked_for(api):
    result = run(api, {"cyber-dojo.sh": CGROUP}, memory_mib=200, cpus=0.5)
    memory, quota, period = map(int, result["stdout"]["content"].split())
    assert memory == 200 * MIB, result
    assert quota * 2 == period, result
    assert result["limits"] == {
        "max_seconds": 10,
        "memory_mib": 200,
        "cpus": 0.5,
        "output_limit_kib": 50,
    }
    assert result["warm"] is False, "a warm container has the node's memory and CPUs"


def test_greenbar_run_sends_the_memory_and_cpus_its_options_ask_for(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "cyber-dojo.sh").write_text(CGROUP + "\n")
    argv = ["--url", url, "run", str(tmp_path), "--image", "greenbar/busybox-sh"]
    main([*argv, "--memory-mib", "160", "--cpus", "0.25", "--output-limit-kib", "2"])
    memory, quota, period = map(int, capsys.readouterr().out.split()[:3])
    assert (memory, quota * 4) == (160 * MIB, period)


def test_a_run_asking_for_nothing_sees_its_images_limits_and_says_them(api, settings):
    result = run(api, {"cyber-dojo.sh": CGROUP})
    memory, quota, period = map(int, result["stdout"]["content"].split())
    assert memory == settings.memory_mib * MIB, result
    assert quota == period * settings.cpus, result
    assert result["limits"]["memory_mib"] == settings.memory_mib


def test_a_program_holding_more_than_its_asked_memory_is_oom_killed_saying_how_much(api):
    result = run(api, {"cyber-dojo.sh": HOLDS_200_MIB}, image=PYTHON, memory_mib=128)
    assert (result["oom_killed"], result["status"]) == (True, 137), result
    assert "more than 128 MiB" in result["log"], result


def test_the_same_program_under_its_images_memory_is_not_oom_killed(api):
    result = run(api, {"cyber-dojo.sh": HOLDS_200_MIB}, image=PYTHON)
    assert (result["oom_killed"], result["status"]) == (False, 0), result
    assert result["stdout"]["content"] == f"{200 * MIB}\n"


def test_a_run_printing_ten_kib_with_an_output_limit_of_one_comes_back_cut_at_one_kib(api):
    script = "head -c 10240 /dev/zero | tr '\\0' o | tee big.txt; printf %0100d 0 | tr 0 e >&2"
    result = run(api, {"cyber-dojo.sh": script}, output_limit_kib=1)
    assert result["stdout"] == {"content": "o" * 1024, "truncated": True}
    assert result["created"]["big.txt"] == {"content": "o" * 1024, "truncated": True}
    assert result["stderr"] == {"content": "e" * 100, "truncated": False}
    assert result["limits"]["output_limit_kib"] == 1


def _refusal(client, **fields):
    body = {"image": "greenbar/busybox-sh", "files": {"cyber-dojo.sh": "true"}, **fields}
    response = client.post("/runs", json=body)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    return error["field"], error["message"]


def test_limits_over_the_images_caps_are_refused_with_422_naming_the_field_and_the_cap(api):
    cap = "(the cap for image greenbar/busybox-sh)"
    assert _refusal(api, memory_mib=4096) == ("memory_mib", f"memory_mib: at most 768 {cap}")
    assert _refusal(api, cpus=2) == ("cpus", f"cpus: at most 1.0 {cap}")
    assert _refusal(api, output_limit_kib=51) == (
        "output_limit_kib",
        "output_limit_kib: must be at least 1 and at most 50",
    )
    field, message = _refusal(api, memory_mib=64)
    assert (field, message.split(" (")[0]) == ("memory_mib", "memory_mib: at least 97")


def test_a_profiled_images_cap_is_its_profiles(settings):
    profiles = {"greenbar/busybox-sh": {"memory_mib": 512}, "greenbar/python-*": {"cpus": 2}}
    profiled = dataclasses.replace(settings, image_profiles=json.dumps(profiles))
    client = create_app(profiled).test_client()
    assert _refusal(client, memory_mib=600) == (
        "memory_mib",
        "memory_mib: at most 512 (the cap for image greenbar/busybox-sh)",
    )
    assert _refusal(client, image=PYTHON, cpus=2.5) == (
        "cpus",
        f"cpus: at most 2.0 (the cap for image {PYTHON})",
    )
