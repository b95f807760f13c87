"""A run's own limits (issue 15): memory_mib, cpus and output_limit_kib, each held to the caps
of its image (the node's settings with the image's profile applied), carried by the request,
given to the container by the runner, and said in the result. No Docker: the runner plays
against a MemoryEngine."""

import dataclasses
import json
from typing import Any

import pytest

from app.config import Settings
from app.errors import InvalidRequest
from app.externals.clock import ManualClock
from app.externals.memory_engine import MemoryEngine, Program
from app.images.allowlist import Allowlist
from app.jobs.requests import RunRequest
from app.outcomes import Outcome
from app.sandbox.limits import RunLimits
from app.sandbox.pool import WarmPool
from app.sandbox.runner import Runner
from app.sandbox.spec import MIB, pool_labels, spec
from tests.contract.conftest import IMAGE, fixture_private_redis, fixture_run_path  # noqa: F401
from tests.contract.programs import supervisor_result
from web.conform import conform
from web.contract import applied_schema
from web.schemas import run_request

PYTHON = "greenbar/python-pytest"
BUSYBOX = "greenbar/busybox-sh"
PROFILES = json.dumps({PYTHON: {"memory_mib": 2048, "cpus": 2}, "greenbar/tiny": {"cpus": 0.5}})
FILES = {"cyber-dojo.sh": "echo hello"}


class OneTrack:
    """The track store's one verb a run request uses: `python` resolves to PYTHON."""

    def resolve(self, slug: str, version: str | None) -> str:
        assert (slug, version) == ("python", None)
        return PYTHON


def _request(profiles: str = PROFILES, **body: Any) -> RunRequest:
    settings = Settings(image_profiles=profiles)
    allowed = Allowlist([PYTHON, BUSYBOX, "greenbar/tiny"])
    body = {"files": FILES, **body}
    if "track" not in body:
        body.setdefault("image", BUSYBOX)
    return run_request(body, settings, allowed, OneTrack())  # type: ignore[arg-type]


def _refusal(**body: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as refused:
        _request(**body)
    return refused.value


# The request: within the caps, or a 422 naming the field and the cap


def test_a_run_asking_for_nothing_carries_no_limits_of_its_own():
    request = _request()
    assert request.limits == RunLimits()
    assert "memory_mib" not in request.to_wire() and "cpus" not in request.to_wire()


def test_limits_within_the_caps_are_carried_and_keep_their_wire_form():
    request = _request(memory_mib=256, cpus=0.5, output_limit_kib=4)
    assert request.limits == RunLimits(256, 0.5, 4)
    assert RunRequest.from_wire(json.loads(json.dumps(request.to_wire()))) == request


def test_a_whole_number_of_cpus_is_carried_as_a_number_of_cpus():
    assert _request(image=PYTHON, cpus=2).cpus == 2.0


def test_a_profile_raises_the_cap_for_its_image_only():
    assert _request(image=PYTHON, memory_mib=2048).memory_mib == 2048
    refused = _refusal(image=BUSYBOX, memory_mib=2048)
    assert (refused.field, refused.rule) == (
        "memory_mib",
        "at most 768 (the cap for image greenbar/busybox-sh)",
    )


def test_a_profile_lowers_the_cap_for_its_image():
    refused = _refusal(image="greenbar/tiny", cpus=1)
    assert str(refused) == "cpus: at most 0.5 (the cap for image greenbar/tiny)"


def test_a_tracks_run_is_held_to_the_caps_of_the_image_its_track_resolves_to():
    assert _request(track="python", memory_mib=1500).image == PYTHON
    refused = _refusal(track="python", memory_mib=4096)
    assert refused.rule == f"at most 2048 (the cap for image {PYTHON})"


def test_memory_no_more_than_the_three_tmpfs_mounts_together_is_refused_saying_why():
    refused = _refusal(memory_mib=96)
    assert refused.field == "memory_mib"
    assert refused.rule.startswith("at least 97 (more than the 96 MiB of the image's three tmpfs")
    assert _request(memory_mib=97).memory_mib == 97


def test_the_least_memory_follows_the_images_tmpfs_sizes():
    small = json.dumps({BUSYBOX: {"sandbox_tmpfs_mib": 8, "tmp_tmpfs_mib": 4, "home_tmpfs_mib": 4}})
    refused = _refusal(profiles=small, memory_mib=63)
    assert refused.rule == "at least 64 (for the supervisor, a shell and what the run writes)"
    assert _request(profiles=small, memory_mib=64).memory_mib == 64


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"memory_mib": 1.5}, "memory_mib", "must be a whole number"),
        ({"memory_mib": "256"}, "memory_mib", "must be a whole number"),
        ({"cpus": "1"}, "cpus", "must be a number"),
        ({"cpus": True}, "cpus", "must be a number"),
        ({"cpus": 0}, "cpus", "must be more than 0"),
        ({"cpus": 0.05}, "cpus", "at least 0.1 (below it the sandbox's own start takes seconds)"),
        ({"cpus": 1.5}, "cpus", "at most 1.0 (the cap for image greenbar/busybox-sh)"),
        ({"output_limit_kib": 0}, "output_limit_kib", "must be at least 1 and at most 50"),
        ({"output_limit_kib": 51}, "output_limit_kib", "must be at least 1 and at most 50"),
        ({"max_seconds": 21}, "max_seconds", "must be at least 1 and at most 20"),
    ],
)
def test_a_limit_out_of_its_range_is_refused_naming_the_field_and_the_bound(body, field, rule):
    refused = _refusal(**body)
    assert (refused.field, refused.rule) == (field, rule)


# The runner: the container gets what was asked, the result says what the run had


def _recording(engine: MemoryEngine) -> dict[str, dict[str, Any]]:
    """The host config of each container `engine` creates, by name, from now on."""
    made: dict[str, dict[str, Any]] = {}
    create = engine.create

    def recorded(keywords: dict[str, Any]) -> str:
        made[keywords["name"]] = keywords["host_config"]
        return create(keywords)

    engine.create = recorded  # type: ignore[method-assign]
    return made


def _played(run_path: Any, **result: Any) -> str:
    program = Program(stdout=supervisor_result(0, **result))
    digest: str = run_path.engine.add_image(IMAGE, program=program)
    return digest


def test_a_run_asking_for_less_memory_and_cpus_gets_a_container_with_them(run_path):
    _played(run_path)
    made = _recording(run_path.engine)
    result = run_path.runner(ManualClock()).run(
        IMAGE, FILES, 7, "asked", run_limits=RunLimits(memory_mib=256, cpus=0.5)
    )
    host = made["greenbar-run-asked"]
    assert host["mem_limit"] == host["memswap_limit"] == 256 * MIB
    assert host["nano_cpus"] == 500_000_000
    assert result.limits == {
        "max_seconds": 7,
        "memory_mib": 256,
        "cpus": 0.5,
        "output_limit_kib": 50,
    }


def test_a_worker_never_gives_more_than_its_own_caps_whatever_the_request_carries():
    worker = Settings(memory_mib=512, cpus=1.0, output_limit_kib=20)
    given = RunLimits(memory_mib=4096, cpus=8.0, output_limit_kib=10).apply(worker)
    assert (given.memory_mib, given.cpus, given.output_limit_kib) == (512, 1.0, 10)


def test_a_run_asking_for_nothing_gets_its_images_limits_and_says_them(run_path):
    _played(run_path)
    made = _recording(run_path.engine)
    result = run_path.runner(ManualClock()).run(IMAGE, FILES, 10, "default")
    assert made["greenbar-run-default"]["mem_limit"] == 768 * MIB
    assert made["greenbar-run-default"]["nano_cpus"] == 1_000_000_000
    assert result.limits == {
        "max_seconds": 10,
        "memory_mib": 768,
        "cpus": 1.0,
        "output_limit_kib": 50,
    }


def test_a_profiled_images_run_asking_for_less_than_its_profile_gets_what_it_asked(run_path):
    _played(run_path)
    made = _recording(run_path.engine)
    profiled = dataclasses.replace(
        run_path.settings, image_profiles=json.dumps({IMAGE: {"memory_mib": 2048, "cpus": 2}})
    )
    runner = Runner(run_path.engine, profiled, run_path.supervisor, run_path.uids, ManualClock())
    result = runner.run(IMAGE, FILES, 10, "profiled", run_limits=RunLimits(1024, 1.5))
    assert made["greenbar-run-profiled"]["mem_limit"] == 1024 * MIB
    assert made["greenbar-run-profiled"]["nano_cpus"] == 1_500_000_000
    assert (result.limits or {}).get("cpus") == 1.5
    runner.dispose()


def test_an_output_limit_of_one_kib_cuts_stdout_stderr_and_files_there(run_path):
    text = b"x" * 10240  # what a supervisor told out_cap=1025 would never send; cut anyway
    _played(run_path, stdout=text[:1025], stderr=b"e" * 100, created={"big.txt": text[:1025]})
    runner = run_path.runner(ManualClock())
    result = runner.run(IMAGE, FILES, 10, "cut", run_limits=RunLimits(output_limit_kib=1))
    assert b"out_cap=1025\n" in run_path.engine.received("greenbar-run-cut")
    assert result.stdout == {"content": "x" * 1024, "truncated": True}
    assert result.stderr == {"content": "e" * 100, "truncated": False}
    assert result.created["big.txt"] == {"content": "x" * 1024, "truncated": True}
    assert (result.limits or {}).get("output_limit_kib") == 1


def test_an_oom_kill_names_the_memory_the_run_really_had(run_path):
    run_path.engine.add_image(
        IMAGE, program=Program(stdout=supervisor_result(137, metrics={"oom_kills": 1}))
    )
    runner = run_path.runner(ManualClock())
    killed = runner.run(IMAGE, FILES, 10, "process", run_limits=RunLimits(memory_mib=200))
    assert killed.log == "out of memory: a process was killed for using more than 200 MiB"


def test_a_sandbox_killed_for_memory_names_the_memory_the_run_really_had(run_path):
    run_path.engine.add_image(IMAGE, program=Program(oom_killed=True))
    runner = run_path.runner(ManualClock())
    killed = runner.run(IMAGE, FILES, 10, "sandbox", run_limits=RunLimits(memory_mib=150))
    assert killed.oom_killed is True
    assert "for using more than 150 MiB" in killed.log


# Warm containers are made to the node's settings


def _warm_pool(run_path: Any, digest: str) -> WarmPool:
    """A pool holding one warm container of `digest`, made to the node's settings, waiting."""
    pool = WarmPool(run_path.client, "limits@unit")
    labels = pool_labels(run_path.settings, pool.worker)
    volume = run_path.supervisor.ensure(digest)
    name = "greenbar-pool-limits"
    run_path.engine.create(spec(run_path.settings, digest, name, labels, 100001, volume))
    run_path.engine.play(name, Program(stdout=supervisor_result(0, stdout=b"warm\n")))
    run_path.engine.start(name)
    pool.put(digest, name)
    return pool


@pytest.mark.parametrize(
    ("asked", "warm"),
    [
        (RunLimits(), True),
        (RunLimits(memory_mib=768, cpus=1), True),  # the node's own
        (RunLimits(output_limit_kib=2), True),  # it comes in the request, not the container
        (RunLimits(memory_mib=512), False),
        (RunLimits(cpus=0.5), False),
        (RunLimits(256, 0.25, 10), False),
    ],
)
def test_only_a_run_asking_for_the_nodes_own_memory_and_cpus_takes_a_warm_container(
    run_path, asked, warm
):
    digest = _played(run_path, stdout=b"fresh\n")
    pool = _warm_pool(run_path, digest)
    runner = run_path.runner(ManualClock(), pool)
    result = runner.run(IMAGE, FILES, 10, "pooled", run_limits=asked)
    assert (result.warm, result.stdout["content"]) == (warm, "warm\n" if warm else "fresh\n")
    assert pool.ready(digest) == (0 if warm else 1)
    runner.dispose()
    for left in pool.drain(digest):
        run_path.engine.remove(left)


# The result


def test_a_results_limits_keep_their_wire_form_and_match_the_api_description(run_path):
    _played(run_path)
    result = run_path.runner(ManualClock()).run(
        IMAGE, FILES, 3, "wire", run_limits=RunLimits(128, 0.5, 8)
    )
    wire = json.loads(json.dumps(dataclasses.replace(result, outcome=Outcome.GREEN).to_wire()))
    assert conform(wire["limits"], applied_schema(), "limits") == {
        "max_seconds": 3,
        "memory_mib": 128,
        "cpus": 0.5,
        "output_limit_kib": 8,
    }
