"""Traffic lights end to end: real worker processes, real images, real Redis, the real API."""

import contextlib
import dataclasses
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import docker
import pytest
import redis

from app.colour.rag_cache import RagCache
from app.externals.engine import Engine
from tests.helpers import ROOT, build_image, run
from web import create_app

TEST_REPOSITORY = "greenbar-test/rag"
RED = "def colour(stdout, stderr, status):\n    return 'red'\n"
GREEN = "def colour(stdout, stderr, status):\n    return 'green'\n"
ECHO = {"cyber-dojo.sh": "echo hello"}


@pytest.fixture(scope="module")
def variant_api(settings: Any, worker: Any) -> Any:
    """The API with test images on its allowlist (the worker itself checks no allowlist)."""
    allowed = (*settings.images, TEST_REPOSITORY)
    return create_app(dataclasses.replace(settings, images=allowed)).test_client()


@pytest.fixture(scope="module")
def build_variant(docker_client: docker.DockerClient) -> Iterator[Callable[..., str]]:
    """Builds an image with other rag lambdas as greenbar-test/rag:latest: `source` (None:
    none) for the .py, `ruby` (None: none) for the .rb, on `base` (default greenbar/busybox-sh).
    Returns the new image id; every image built is removed at the end."""
    built: list[str] = []

    def build(
        source: str | None, ruby: str | None = None, base: str = "greenbar/busybox-sh"
    ) -> str:
        marker = uuid.uuid4().hex  # a new digest each build, so no cache can answer for it
        steps = [f"FROM {base}", f"LABEL greenbar.test={marker}"]
        steps.append("RUN rm -f /usr/local/bin/red_amber_green.py")
        files = {}
        for name, text in (("red_amber_green.py", source), ("red_amber_green.rb", ruby)):
            if text is not None:
                steps.append(f"COPY {name} /usr/local/bin/{name}")
                files[name] = text
        image = build_image(
            docker_client, "\n".join(steps) + "\n", files, f"{TEST_REPOSITORY}:latest"
        )
        built.append(image.id)
        return str(image.id)

    yield build
    for image_id in built:
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.images.remove(image_id, force=True)


def _cache(settings: Any) -> RagCache:
    return RagCache(redis.Redis.from_url(settings.redis_url), Engine.from_env(), 3600, 60)


# The start-point contract, as cyber-dojo checks every start-point.

BUSYBOX_START = "images/busybox-sh/start"
PYTHON_START = "images/python-pytest/start"


def _start_files(folder: str) -> dict[str, str]:
    return {p.name: p.read_text() for p in (ROOT / folder).iterdir() if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("image", "folder", "answer", "broken", "fixed"),
    [
        (
            "greenbar/busybox-sh",
            BUSYBOX_START,
            "hiker.sh",
            ("$((6 * 9))", "$((6 * 9)"),
            ("$((6 * 9))", "$((6 * 7))"),
        ),
        (
            "greenbar/python-pytest",
            PYTHON_START,
            "hiker.py",
            ("6 * 9", "6 *"),
            ("6 * 9", "6 * 7"),
        ),
    ],
)
def test_start_files_are_red_as_shipped_amber_with_a_syntax_error_and_green_when_fixed(
    api: Any, image: str, folder: str, answer: str, broken: Any, fixed: Any
) -> None:
    files = _start_files(folder)
    assert broken[0] in files[answer], "the start file changed: update this test"
    shipped = run(api, files, image=image)
    assert shipped["outcome"] == "red", shipped["log"]

    files_broken = {**files, answer: files[answer].replace(*broken)}
    assert run(api, files_broken, image=image)["outcome"] == "amber"

    files_fixed = {**files, answer: files[answer].replace(*fixed)}
    assert run(api, files_fixed, image=image)["outcome"] == "green"


# Faulty lambdas, the image's own (a trusted rule, evaluated in the worker's evaluator).


@pytest.mark.parametrize(
    ("source", "said"),
    [
        (None, "has no rag lambda at /usr/local/bin/red_amber_green.py or"),
        ("def colour(stdout, stderr, status)\n    return 'red'\n", "does not compile"),
        ("def colour(stdout, stderr, status):\n    return 1 / 0\n", "ZeroDivisionError"),
        ("def colour(stdout, stderr, status):\n    return 'blue'\n", "returned 'blue'"),
        ("def colour(stdout, stderr, status):\n    while True:\n        pass\n", "time limit"),
        ("import os\ndef colour(stdout, stderr, status):\n    return 'red'\n", "only re"),
        ("def paint(stdout, stderr, status):\n    return 'red'\n", "no function colour"),
    ],
)
def test_an_images_broken_rag_lambda_makes_the_run_faulty_with_a_log_saying_why(
    variant_api: Any, build_variant: Any, source: str | None, said: str
) -> None:
    build_variant(source)
    result = run(variant_api, ECHO, image=TEST_REPOSITORY)
    assert result["outcome"] == "faulty"
    assert said in result["log"]
    if source is not None:
        assert source in result["log"], "the log shows the lambda's source"
    assert result["stdout"]["content"] == "hello\n", "the run's own output is still there"


def test_the_lambda_sees_the_truncated_output_and_the_integer_status(
    variant_api: Any, build_variant: Any
) -> None:
    build_variant(
        "def colour(stdout, stderr, status):\n"
        "    ok = len(stdout) == 51200 and stderr == 'e\\n' and status == 3\n"
        "    return 'green' if ok else 'red'\n"
    )
    files = {"cyber-dojo.sh": "yes | head -c 100000; echo e >&2; exit 3"}
    assert run(variant_api, files, image=TEST_REPOSITORY)["outcome"] == "green"


# Reading once per digest, and new builds.


def test_a_lambda_is_read_from_its_image_once_per_digest_across_worker_processes(
    variant_api: Any, build_variant: Any, settings: Any
) -> None:
    digest = build_variant(GREEN)
    outcomes: list[str] = []

    def one_run() -> None:
        outcomes.append(run(variant_api, ECHO, image=TEST_REPOSITORY)["outcome"])

    threads = [threading.Thread(target=one_run) for _ in range(6)]  # both pool children work
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == ["green"] * 6
    assert _cache(settings).reads(digest) == 1


def test_a_new_build_under_the_same_name_changes_the_colour_without_restart_or_flush(
    variant_api: Any, build_variant: Any
) -> None:
    build_variant(RED)
    assert run(variant_api, ECHO, image=TEST_REPOSITORY)["outcome"] == "red"
    build_variant(GREEN)
    assert run(variant_api, ECHO, image=TEST_REPOSITORY)["outcome"] == "green"


def test_the_result_names_the_digest_that_ran(variant_api: Any, build_variant: Any) -> None:
    digest = build_variant(GREEN)
    assert run(variant_api, ECHO, image=TEST_REPOSITORY)["digest"] == digest


# Client copies of the lambda: the image's own when identical, a one-shot evaluator otherwise.


def test_a_copy_identical_to_the_images_lambda_is_trusted(api: Any) -> None:
    source = _start_files("images/python-pytest")["red_amber_green.py"]
    files = _start_files(PYTHON_START)
    result = run(api, files, image="greenbar/python-pytest", rag_lambda=source)
    assert result["outcome"] == "red"


def test_a_different_copy_is_evaluated_on_its_own_and_its_answer_is_used(api: Any) -> None:
    files = _start_files(PYTHON_START)
    result = run(api, files, image="greenbar/python-pytest", rag_lambda=GREEN)
    assert result["outcome"] == "green"


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ("def colour(a, b, c):\n    while True:\n        pass\n", "time limit"),
        ("import socket\ndef colour(a, b, c):\n    return 'red'\n", "only re, not socket"),
        (
            "import re\n"
            "socket = re.enum.sys.modules['builtins'].__import__('socket')\n"
            "def colour(a, b, c):\n"
            "    socket.create_connection(('1.1.1.1', 80), timeout=1)\n"
            "    return 'red'\n",
            "raised OSError",
        ),
        ("def colour(a, b, c):\n    return None\n", "returned None"),
        ("def colour(a, b, c)\n", "does not compile"),
        ("open('/etc/passwd').read()\n", "NameError"),
    ],
)
def test_a_client_copy_that_misbehaves_is_faulty_and_the_worker_carries_on(
    api: Any, source: str, said: str
) -> None:
    result = run(api, ECHO, image="greenbar/python-pytest", rag_lambda=source)
    assert result["outcome"] == "faulty"
    assert said in result["log"]
    assert run(api, _start_files(PYTHON_START), image="greenbar/python-pytest")["outcome"] == "red"


def test_a_client_copy_for_an_image_without_python3_is_evaluated_all_the_same(api: Any) -> None:
    result = run(api, ECHO, image="greenbar/busybox-sh", rag_lambda=GREEN)
    assert result["outcome"] == "green"


def test_a_client_copy_never_shares_the_evaluator_of_the_images_own_lambdas(api: Any) -> None:
    # In the resident evaluator, a copy could reach the images' compiled lambdas through the
    # interpreter; in a one-shot evaluator there are none to reach.
    peeks = (
        "import re\n"
        "gc = re.enum.sys.modules['builtins'].__import__('gc')\n"
        "def colour(a, b, c):\n"
        "    held = [o for o in gc.get_objects() if o.__class__.__name__ == 'Python']\n"
        "    keys = [k for evaluator in held for k in evaluator._lambdas if k != 'client']\n"
        "    return 'red' if keys else 'green'\n"
    )
    run(api, ECHO, image="greenbar/busybox-sh")  # the resident one holds busybox-sh's lambda
    assert run(api, ECHO, image="greenbar/busybox-sh", rag_lambda=peeks)["outcome"] == "green"


# Ruby lambdas (cyber-dojo's red_amber_green.rb) and images with both.

PYTEST_RUBY_RULE = """\
# pytest exits 0 when every test passed and 1 when some failed; anything else (2 for a
# collection error such as a SyntaxError, 5 for no tests) means the tests did not run.
lambda { |stdout, stderr, status|
  return :green if status.zero?
  return :red if status == 1 && /\\b\\d+ failed\\b/.match?(stdout)
  :amber
}
"""


@pytest.mark.slow
def test_a_cyber_dojo_style_ruby_image_is_red_as_shipped_amber_broken_and_green_fixed(
    variant_api: Any, build_variant: Any
) -> None:
    build_variant(None, ruby=PYTEST_RUBY_RULE, base="greenbar/python-pytest")
    files = _start_files(PYTHON_START)
    assert run(variant_api, files, image=TEST_REPOSITORY)["outcome"] == "red"
    broken = {**files, "hiker.py": files["hiker.py"].replace("6 * 9", "6 *")}
    assert run(variant_api, broken, image=TEST_REPOSITORY)["outcome"] == "amber"
    fixed = {**files, "hiker.py": files["hiker.py"].replace("6 * 9", "6 * 7")}
    assert run(variant_api, fixed, image=TEST_REPOSITORY)["outcome"] == "green"


@pytest.mark.parametrize(
    ("ruby", "said"),
    [
        ("lambda { |stdout, stderr, status| :red \n", "does not compile: SyntaxError"),
        ("lambda { |o, e, s| raise IOError, 'no disk' }", "raised IOError: no disk"),
        ("lambda { |o, e, s| :blue }", "returned :blue, not red, amber or green"),
        ("lambda { |o, e, s| loop {} }", "took longer than its time limit"),
    ],
)
def test_a_broken_ruby_lambda_makes_the_run_faulty_with_a_diagnostic(
    variant_api: Any, build_variant: Any, ruby: str, said: str
) -> None:
    build_variant(None, ruby=ruby)
    result = run(variant_api, ECHO, image=TEST_REPOSITORY)
    assert result["outcome"] == "faulty"
    assert said in result["log"] and ruby in result["log"]


def test_a_client_copy_for_a_ruby_image_is_evaluated_in_ruby(
    variant_api: Any, build_variant: Any
) -> None:
    build_variant(None, ruby="lambda { |o, e, s| :red }")
    copy = "lambda { |o, e, s| o.include?('hello') ? :green : :amber }"
    assert run(variant_api, ECHO, image=TEST_REPOSITORY, rag_lambda=copy)["outcome"] == "green"


def test_an_image_with_both_files_is_coloured_by_its_py(
    variant_api: Any, build_variant: Any
) -> None:
    build_variant(RED, ruby="lambda { |o, e, s| :green }")
    assert run(variant_api, ECHO, image=TEST_REPOSITORY)["outcome"] == "red"


# Reading an image's lambda, with bounds.


def test_a_named_pipe_at_the_lambdas_path_is_faulty_saying_what_it_is(
    variant_api: Any, docker_client: docker.DockerClient
) -> None:
    """(A directory, a 1 GiB file: tests/system/test_hostile_lambdas.py.)"""
    dockerfile = (
        f"FROM greenbar/busybox-sh\nLABEL greenbar.test={uuid.uuid4().hex}\n"
        "RUN rm /usr/local/bin/red_amber_green.py && mkfifo /usr/local/bin/red_amber_green.rb\n"
    )
    image = build_image(docker_client, dockerfile, tag=f"{TEST_REPOSITORY}:latest")
    try:
        result = run(variant_api, ECHO, image=TEST_REPOSITORY)
    finally:
        docker_client.images.remove(image.id, force=True)
    assert result["outcome"] == "faulty"
    assert "red_amber_green.rb is a named pipe, not a regular file" in result["log"]


def test_a_symbolic_link_to_a_lambda_is_followed(
    variant_api: Any, docker_client: docker.DockerClient
) -> None:
    dockerfile = (
        f"FROM greenbar/busybox-sh\nLABEL greenbar.test={uuid.uuid4().hex}\n"
        "RUN mv /usr/local/bin/red_amber_green.py /usr/local/bin/rule.py"
        " && ln -s rule.py /usr/local/bin/red_amber_green.py\n"
    )
    image = build_image(docker_client, dockerfile, tag=f"{TEST_REPOSITORY}:latest")
    try:
        result = run(variant_api, {"cyber-dojo.sh": "echo PASSED"}, image=TEST_REPOSITORY)
    finally:
        docker_client.images.remove(image.id, force=True)
    assert result["outcome"] == "green"


# POST /colours.


def test_a_colour_request_is_answered_with_the_images_verdict(api: Any) -> None:
    body = {"image": "greenbar/python-pytest", "stdout": "1 failed", "stderr": "", "status": 1}
    response = api.post("/colours?wait=20", json=body)
    assert response.status_code == 200
    view = response.get_json()
    assert view["result"]["outcome"] == "red"
    assert view["result"]["digest"].startswith("sha256:")


def test_a_colour_request_without_wait_is_queued_and_can_be_polled(api: Any) -> None:
    body = {"image": "greenbar/busybox-sh", "stdout": "PASSED\n", "stderr": "", "status": 0}
    response = api.post("/colours", json=body)
    assert response.status_code == 202
    assert response.headers["Location"].startswith("/colours/")
    view = api.get(response.headers["Location"] + "?wait=20").get_json()
    assert view["state"] == "done"
    assert view["result"]["outcome"] == "green"


def test_a_colour_request_with_a_client_copy_is_evaluated_on_its_own(api: Any) -> None:
    body = {
        "image": "greenbar/python-pytest",
        "stdout": "",
        "stderr": "",
        "status": 0,
        "rag_lambda": "def colour(a, b, c):\n    return 'amber' if c == 0 else 'red'\n",
    }
    view = api.post("/colours?wait=20", json=body).get_json()
    assert view["result"]["outcome"] == "amber"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"stdout": "", "stderr": "", "status": 0}, "image"),
        ({"image": "greenbar/busybox-sh", "stderr": "", "status": 0}, "stdout"),
        ({"image": "greenbar/busybox-sh", "stdout": "", "stderr": 1, "status": 0}, "stderr"),
        ({"image": "greenbar/busybox-sh", "stdout": "", "stderr": "", "status": "0"}, "status"),
        ({"image": "greenbar/busybox-sh", "stdout": "", "stderr": "", "status": True}, "status"),
        (
            {"image": "greenbar/busybox-sh", "stdout": "", "stderr": "", "status": 0, "x": 1},
            "x",
        ),
        (
            {
                "image": "greenbar/busybox-sh",
                "stdout": "",
                "stderr": "",
                "status": 0,
                "rag_lambda": 7,
            },
            "rag_lambda",
        ),
    ],
)
def test_an_invalid_colour_request_is_422_naming_the_field(api: Any, body: Any, field: str) -> None:
    response = api.post("/colours", json=body)
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == field


def test_an_unknown_colour_id_is_404(api: Any) -> None:
    assert api.get("/colours/nope").status_code == 404
