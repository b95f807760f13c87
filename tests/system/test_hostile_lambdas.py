"""Hostile rag lambdas in an image: whoever can push a tag of an allowed image writes its
lambda, and must not get the node. Each lambda below tries one escape and returns green only if
the escape worked; where it cannot work (the evaluator's container) its hostile step raises or
hangs, and the run is faulty with a log saying why. After each, a healthy image is green again.

Real worker, real Docker, images built FROM greenbar/busybox-sh. Nothing here depends on how
the evaluator is built, so the same file runs against code from before it.
"""

import contextlib
import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.helpers import ROOT, build_image, run
from web import create_app

pytestmark = pytest.mark.slow  # images built per case, one holding a 1 GiB file

HOSTILE_REPOSITORY = "greenbar-test/hostile"
ECHO = {"cyber-dojo.sh": "echo hello"}
MARKER = f"greenbar-marker-{uuid.uuid4().hex}"
MARKERS = (Path("/tmp") / MARKER, ROOT / MARKER)  # ROOT: the worker's working directory
ESCAPE = "import re\nos = re.enum.sys.modules['os']\nbuiltins = re.enum.sys.modules['builtins']\n"

HOSTILE = {
    "reads_the_workers_secrets_through_re_enum_sys_modules": (
        ESCAPE + "def colour(stdout, stderr, status):\n"
        "    return 'green' if os.environ['GREENBAR_REDIS_URL'] else 'red'\n",
        "raised KeyError: 'GREENBAR_REDIS_URL'",
    ),
    "finds_os_through_object_subclasses_and_the_docker_socket": (
        "def colour(stdout, stderr, status):\n"
        "    wrap = [c for c in ().__class__.__mro__[1].__subclasses__()\n"
        "            if c.__name__ == '_wrap_close'][0]\n"
        "    wrap.__init__.__globals__['stat']('/var/run/docker.sock')\n"
        "    return 'green'\n",
        "raised FileNotFoundError",
    ),
    "switches_off_the_tracer_then_loops": (
        "import re\n"
        "def colour(stdout, stderr, status):\n"
        "    re.enum.sys.settrace(None)\n"
        "    while True:\n"
        "        pass\n",
        "took longer than its time limit of 1.0 s",
    ),
    "switches_off_the_tracer_and_the_timer_then_loops": (
        "import re\n"
        "signal = re.enum.sys.modules['signal']\n"
        "def colour(stdout, stderr, status):\n"
        "    re.enum.sys.settrace(None)\n"
        "    signal.setitimer(signal.ITIMER_REAL, 0)\n"
        "    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
        "    while True:\n"
        "        pass\n",
        "took longer than its time limit of 1.0 s",
    ),
    "runs_a_catastrophic_regex_in_one_c_call": (
        "import re\n"
        "def colour(stdout, stderr, status):\n"
        "    re.match(r'(a+)+$', 'a' * 40 + 'b')\n"
        "    return 'green'\n",
        "took longer than its time limit of 1.0 s",
    ),
    "forks_in_a_loop": (
        ESCAPE + "def colour(stdout, stderr, status):\n"
        "    r, w = os.pipe()\n"
        "    children = []\n"
        "    try:\n"
        "        for _ in range(64):\n"
        "            pid = os.fork()\n"
        "            if pid == 0:\n"  # each child waits for the pipe to close, then exits
        "                os.close(w)\n"
        "                os.read(r, 1)\n"
        "                os._exit(0)\n"
        "            children.append(pid)\n"
        "    finally:\n"
        "        os.close(w)\n"
        "        os.close(r)\n"
        "        for pid in children:\n"
        "            os.waitpid(pid, 0)\n"
        "    return 'green'\n",
        "raised BlockingIOError",
    ),
    "allocates_1_gib": (
        ESCAPE + "def colour(stdout, stderr, status):\n"
        "    hoard = builtins.bytearray(1 << 30)\n"
        "    return 'green' if len(hoard) else 'red'\n",
        "raised MemoryError",
    ),
    "talks_to_the_docker_socket": (
        ESCAPE + "socket = builtins.__import__('socket')\n"
        "def colour(stdout, stderr, status):\n"
        "    engine = socket.socket(socket.AF_UNIX)\n"
        "    engine.connect('/var/run/docker.sock')\n"
        "    engine.sendall(b'GET /_ping HTTP/1.0\\r\\n\\r\\n')\n"
        "    answer = engine.recv(100)\n"
        "    engine.close()\n"
        "    return 'green' if answer else 'red'\n",
        "raised FileNotFoundError",
    ),
    "imports_ctypes": (
        ESCAPE + "def colour(stdout, stderr, status):\n"
        "    ctypes = builtins.__import__('ctypes')\n"
        "    return 'green' if ctypes.CDLL(None) else 'red'\n",
        "raised ModuleNotFoundError: No module named 'ctypes'",
    ),
    "writes_a_marker_on_the_host": (
        ESCAPE
        + "def colour(stdout, stderr, status):\n"
        + "".join(
            f"    os.close(os.open({str(marker)!r}, os.O_CREAT | os.O_WRONLY))\n"
            for marker in MARKERS
        )
        + "    return 'green'\n",
        "raised FileNotFoundError",
    ),
    "ends_the_process_it_runs_in": (
        ESCAPE + "def colour(stdout, stderr, status):\n    os._exit(3)\n",
        "evaluator ended while evaluating it",
    ),
}


@pytest.fixture(scope="module")
def hostile_api(settings: Any, worker: Any) -> Any:
    """The API with the hostile images' repository on its allowlist."""
    allowed = (*settings.images, HOSTILE_REPOSITORY)
    return create_app(dataclasses.replace(settings, images=allowed)).test_client()


@contextlib.contextmanager
def _hostile_image(
    client: docker.DockerClient, steps: str, files: dict[str, str]
) -> Iterator[None]:
    marker = uuid.uuid4().hex  # a new digest each build, so no cache can answer for it
    dockerfile = f"FROM greenbar/busybox-sh\nLABEL greenbar.test={marker}\n{steps}"
    image = build_image(client, dockerfile, files, f"{HOSTILE_REPOSITORY}:latest")
    try:
        yield
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            client.images.remove(image.id, force=True)


def _still_green(api: Any) -> None:
    healthy = run(api, {"cyber-dojo.sh": "echo PASSED"}, image="greenbar/busybox-sh")
    assert healthy["outcome"] == "green", healthy["log"]


@pytest.mark.parametrize(("source", "said"), HOSTILE.values(), ids=HOSTILE.keys())
def test_an_image_lambda_that_tries_to_escape_is_faulty_and_the_next_run_is_green(
    hostile_api: Any, docker_client: docker.DockerClient, source: str, said: str
) -> None:
    copy = "COPY red_amber_green.py /usr/local/bin/red_amber_green.py\n"
    try:
        with _hostile_image(docker_client, copy, {"red_amber_green.py": source}):
            result = run(hostile_api, ECHO, image=HOSTILE_REPOSITORY)
        assert result["outcome"] == "faulty", f"{result['outcome']}: {result['log']}"
        assert said in result["log"]
        assert source in result["log"]
        assert not [m for m in MARKERS if m.exists()], "the lambda wrote on the host"
    finally:
        for marker in MARKERS:
            marker.unlink(missing_ok=True)
    _still_green(hostile_api)


@pytest.mark.parametrize(
    ("step", "said"),
    [
        ("mkdir /usr/local/bin/red_amber_green.py", "red_amber_green.py is a directory"),
        (
            "truncate -s 1G /usr/local/bin/red_amber_green.py",
            "red_amber_green.py is 1 GiB, over the 64 KiB it may be",
        ),
    ],
    ids=["a_directory", "a_1_gib_file"],
)
def test_an_image_with_anything_but_a_small_file_at_its_lambdas_path_is_faulty_saying_what(
    hostile_api: Any, docker_client: docker.DockerClient, step: str, said: str
) -> None:
    with _hostile_image(docker_client, f"RUN rm /usr/local/bin/red_amber_green.py && {step}\n", {}):
        result = run(hostile_api, ECHO, image=HOSTILE_REPOSITORY)
    assert result["outcome"] == "faulty", f"{result['outcome']}: {result['log']}"
    assert said in result["log"]
    _still_green(hostile_api)
