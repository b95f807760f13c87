"""Images following exercism's test-runner interface, end to end: a real worker runs
greenbar/python-exercism's run.sh under the supervisor and colours the run from its results.json."""

import contextlib
import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from tests.helpers import ROOT, build_image, run
from web import create_app

IMAGE = "greenbar/python-exercism"
START = ROOT / "images/python-exercism/start"
WITH_LAMBDA = "greenbar-test/exercism-rag"
ALWAYS_AMBER = "def colour(stdout, stderr, status):\n    return 'amber'\n"


def _start_files() -> dict[str, str]:
    return {p.name: p.read_text() for p in START.iterdir() if p.is_file()}


def test_the_start_point_is_red_as_shipped_with_its_failing_test_in_the_result(api: Any) -> None:
    result = run(api, _start_files(), image=IMAGE, exercise="hiker")
    assert result["outcome"] == "red", result["log"]
    tests = result["tests"]
    assert (tests["version"], tests["status"], tests["message"]) == (3, "fail", None)
    [test] = tests["tests"]
    assert (test["name"], test["status"]) == ("test_life_the_universe_and_everything", "fail")
    assert "54" in test["message"] and "assert answer() == 42" in test["test_code"]
    assert ".greenbar-exercism/results.json" in result["created"], "the file as written, too"


def test_the_start_point_is_amber_with_a_syntax_error_saying_so_in_the_message(api: Any) -> None:
    files = _start_files()
    files["hiker.py"] = files["hiker.py"].replace("6 * 9", "6 *")
    result = run(api, files, image=IMAGE, exercise="hiker")
    assert result["outcome"] == "amber", result["log"]
    assert result["tests"]["status"] == "error" and result["tests"]["tests"] == []
    assert "SyntaxError" in result["tests"]["message"]


def test_the_start_point_is_green_when_fixed(api: Any) -> None:
    files = _start_files()
    files["hiker.py"] = files["hiker.py"].replace("6 * 9", "6 * 7")
    result = run(api, files, image=IMAGE, exercise="hiker")
    assert result["outcome"] == "green", result["log"]
    assert [t["status"] for t in result["tests"]["tests"]] == ["pass"]


HARDENING = """import os
import socket


def test_not_root():
    assert os.getuid() != 0 and os.geteuid() != 0


def test_the_root_is_read_only():
    try:
        open("/opt/test-runner/bin/planted", "w")
    except OSError as error:
        assert error.errno == 30  # EROFS
    else:
        raise AssertionError("wrote into the image")


def test_no_network():
    with socket.socket() as s:
        s.settimeout(1)
        assert s.connect_ex(("10.0.0.1", 80)) != 0


def test_no_capabilities():
    with open("/proc/self/status") as status:
        caps = dict(line.split(":\\t") for line in status.read().splitlines() if ":\\t" in line)
    assert int(caps["CapEff"], 16) == 0 and int(caps["CapBnd"], 16) == 0
"""


def test_run_sh_runs_with_the_same_hardening_as_any_run(api: Any) -> None:
    result = run(api, {"test_hardening.py": HARDENING}, image=IMAGE, exercise="hardening")
    statuses = {t["name"]: (t["status"], t["message"]) for t in result["tests"]["tests"]}
    assert result["outcome"] == "green", statuses
    assert len(statuses) == 4


def test_an_exercise_for_a_cyber_dojo_image_is_faulty_and_nothing_runs(api: Any) -> None:
    refused = run(api, {"x": ""}, image="greenbar/busybox-sh", exercise="hiker")
    assert refused["outcome"] == "faulty" and "does not follow exercism's" in refused["log"]
    assert refused["stdout"]["content"] == ""


@pytest.fixture(scope="module")
def with_lambda(docker_client: docker.DockerClient, settings: Any, worker: Any) -> Iterator[Any]:
    """greenbar/python-exercism with a rag lambda that always says amber, and the API that
    allows it; the image is removed at the end."""
    steps = [
        f"FROM {IMAGE}",
        f"LABEL greenbar.test={uuid.uuid4().hex}",
        "COPY red_amber_green.py /usr/local/bin/red_amber_green.py",
    ]
    files = {"red_amber_green.py": ALWAYS_AMBER}
    image = build_image(docker_client, "\n".join(steps) + "\n", files, f"{WITH_LAMBDA}:latest")
    allowed = dataclasses.replace(settings, images=(*settings.images, WITH_LAMBDA))
    yield create_app(allowed).test_client()
    with contextlib.suppress(docker.errors.NotFound):
        docker_client.images.remove(image.id, force=True)


def test_an_exercism_image_with_a_rag_lambda_is_coloured_by_it_and_still_carries_its_tests(
    with_lambda: Any,
) -> None:
    files = _start_files()
    files["hiker.py"] = files["hiker.py"].replace("6 * 9", "6 * 7")
    result = run(with_lambda, files, image=WITH_LAMBDA, exercise="hiker")
    assert result["outcome"] == "amber", result["log"]
    assert result["tests"]["status"] == "pass"


def test_an_image_whose_entrypoint_is_its_run_sh_runs_as_greenbar_s_sandbox(
    docker_client: docker.DockerClient, settings: Any, worker: Any
) -> None:
    # exercism's images set ENTRYPOINT to their run.sh: the sandbox must still start greenbar's
    # supervisor, not hand it to run.sh as arguments.
    steps = [
        f"FROM {IMAGE}",
        f"LABEL greenbar.test={uuid.uuid4().hex}",
        'ENTRYPOINT ["/bin/false"]',
    ]
    tag = "greenbar-test/exercism-entrypoint:latest"
    image = build_image(docker_client, "\n".join(steps) + "\n", {}, tag)
    try:
        allowed = dataclasses.replace(settings, images=(*settings.images, tag))
        api = create_app(allowed).test_client()
        result = run(api, _start_files(), image=tag, exercise="hiker")
        assert result["outcome"] == "red", result
        assert result["tests"]["status"] == "fail"
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.images.remove(image.id, force=True)
