"""The evaluator against the real Docker engine, without a worker: its container, its life, the
Ruby contract, how it fails, and reading a lambda's file from an image with bounds."""

import contextlib
import logging
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import docker
import pytest

from app.colour.evaluator.one_shot import OneShotEvaluator, container_name
from app.colour.evaluator.resident import ResidentEvaluator
from app.colour.evaluator.wire import Call
from app.config import Settings
from app.externals.engine import Engine, ImageFile
from app.outcomes import Output
from tests.helpers import DEPLOYMENT, ROOT, build_image, wait_until

GREEN = "def colour(stdout, stderr, status):\n    return 'green'\n"
LEAVES_A_PROCESS = (
    "import re\n"
    "os = re.enum.sys.modules['os']\n"
    "def colour(stdout, stderr, status):\n"
    "    if os.fork() == 0:\n"
    "        os.read(os.open('/proc/self/cmdline', 0), 1)\n"  # any call, then hang about
    "        while True:\n"
    "            pass\n"
    "    return 'green'\n"
)


@pytest.fixture
def resident(images: None) -> Iterator[ResidentEvaluator]:
    settings = Settings.from_env({}, deployment=DEPLOYMENT, node="test-node")
    evaluator = ResidentEvaluator(Engine.from_env(), settings, worker="test-worker@test-node")
    yield evaluator
    evaluator.close()


def _call(source: str, language: str = "python", key: str = "", **given: Any) -> Call:
    said: dict[str, Any] = {"stdout": "", "stderr": "", "status": 0, **given}
    limit = said.pop("limit", 1.0)
    return Call(key or source, language, source, Output(**said), limit)


def _exists(client: docker.DockerClient, name: str) -> bool:
    try:
        client.containers.get(name)
    except docker.errors.NotFound:
        return False
    return True


# The container.


def test_the_evaluator_is_hardened_labelled_and_holds_no_secret(
    resident: ResidentEvaluator, docker_client: docker.DockerClient
) -> None:
    assert resident.colour(_call(GREEN)).outcome == "green"
    inspected = docker_client.api.inspect_container(resident.name)
    config, host = inspected["Config"], inspected["HostConfig"]
    assert config["User"] == "41967:51967"
    assert (
        config["Labels"].items()
        >= {
            "greenbar.kind": "evaluator",
            "greenbar.node": "test-node",
            "greenbar.deployment": DEPLOYMENT,
            "greenbar.worker": "test-worker@test-node",
        }.items()
    )
    assert not [v for v in config["Env"] if v.startswith("GREENBAR") or "redis" in v.lower()]
    assert (host["NetworkMode"], host["ReadonlyRootfs"], host["CapDrop"]) == ("none", True, ["ALL"])
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert (host["PidsLimit"], host["Memory"], host["MemorySwap"]) == (32, 256 << 20, 256 << 20)
    assert (host["AutoRemove"], host["LogConfig"]["Type"], host["Privileged"]) == (
        True,
        "none",
        False,
    )
    # One mount: its own anonymous volume for the unix socket, labelled as it is; no host path.
    (mount,) = inspected["Mounts"]
    assert (mount["Type"], mount["Destination"]) == ("volume", "/greenbar-socket")
    assert not host["Binds"]
    volume = docker_client.api.inspect_volume(mount["Name"])
    assert volume["Labels"]["greenbar.worker"] == "test-worker@test-node"
    assert volume["Labels"].items() <= config["Labels"].items()
    assert (volume["Options"]["type"], volume["Options"]["o"].split(",")[:2]) == (
        "tmpfs",
        ["size=64k", "nr_inodes=16"],
    )
    assert "nr_inodes=64" in host["Tmpfs"]["/tmp"]


def test_one_evaluator_answers_call_after_call_and_closing_removes_it(
    resident: ResidentEvaluator, docker_client: docker.DockerClient
) -> None:
    rule = "def colour(stdout, stderr, status):\n    return 'red' if status else 'green'\n"
    first = resident.colour(_call(rule, status=1))
    name = resident.name
    second = resident.colour(_call(rule, status=0))
    assert (first.outcome, second.outcome, resident.name) == ("red", "green", name)
    resident.close()
    wait_until(lambda: not _exists(docker_client, name), 10, "the evaluator to be removed")


def _volume(client: docker.DockerClient, container: str) -> str:
    (mount,) = client.api.inspect_container(container)["Mounts"]
    return str(mount["Name"])


def _volume_exists(client: docker.DockerClient, name: str) -> bool:
    try:
        client.api.inspect_volume(name)
    except docker.errors.NotFound:
        return False
    return True


def test_the_resident_evaluator_answers_over_its_socket_and_its_volume_goes_on_close(
    resident: ResidentEvaluator, docker_client: docker.DockerClient
) -> None:
    assert resident.colour(_call(GREEN)).outcome == "green"
    assert resident.over_socket
    volume = _volume(docker_client, resident.name)
    # The evaluator removed its socket once the worker connected: nobody else can.
    source = docker_client.api.inspect_volume(volume)["Mountpoint"]
    assert os.listdir(source) == []
    assert resident.colour(_call(GREEN)).outcome == "green"
    resident.close()
    wait_until(lambda: not _volume_exists(docker_client, volume), 10, "the volume to go")


def test_a_lambda_cannot_fill_the_host_disk_through_the_socket_volume(
    resident: ResidentEvaluator,
) -> None:
    fills = (
        "os = re.enum.sys.modules['os']\n"
        "def colour(a, b, c):\n"
        "    for i in range(20):\n"
        "        out = os.open(f'/greenbar-socket/{i}', os.O_WRONLY | os.O_CREAT, 0o600)\n"
        "        os.write(out, b'x' * 60000)\n"
        "        os.close(out)\n"
        "    return 'green'\n"
    )
    verdict = resident.colour(_call(fills))
    assert verdict.outcome == "faulty" and "No space left on device" in verdict.log


def test_the_socket_volume_goes_when_its_evaluator_dies(
    resident: ResidentEvaluator, docker_client: docker.DockerClient
) -> None:
    assert resident.colour(_call(GREEN)).outcome == "green"
    volume = _volume(docker_client, resident.name)
    docker_client.api.kill(resident.name)  # auto_remove takes its anonymous volume too
    wait_until(lambda: not _volume_exists(docker_client, volume), 10, "the volume to go")
    assert resident.colour(_call(GREEN)).outcome == "green" and resident.over_socket


def test_where_the_mountpoint_is_unreachable_calls_go_over_attach_said_once(
    images: None, docker_client: docker.DockerClient, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.from_env({}, deployment=DEPLOYMENT, node="test-node")
    elsewhere = ResidentEvaluator(
        Engine.from_env(), settings, host_path=lambda path: "/nonexistent" + path
    )
    try:
        with caplog.at_level(logging.WARNING, "app.colour.evaluator.resident"):
            assert elsewhere.colour(_call(GREEN)).outcome == "green"
            assert not elsewhere.over_socket
            first = elsewhere.name
            docker_client.api.remove_container(first, force=True, v=True)
            assert elsewhere.colour(_call(GREEN, status=1)).outcome == "green"
            assert elsewhere.name not in ("", first) and not elsewhere.over_socket
        said = [r for r in caplog.records if "calls go over the attach socket" in r.getMessage()]
        assert len(said) == 1
    finally:
        elsewhere.close()


@pytest.mark.parametrize("reachable", [True, False])
def test_a_lambda_past_its_limit_is_faulty_and_gets_a_fresh_evaluator(
    images: None, docker_client: docker.DockerClient, reachable: bool
) -> None:
    # Deaf to the evaluator's own timer: only the host's deadline stops it.
    runaway = (
        "signal = re.enum.sys.modules['signal']\n"
        "def colour(a, b, c):\n"
        "    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
        "    while True:\n"
        "        pass\n"
    )
    settings = Settings.from_env({}, deployment=DEPLOYMENT, node="test-node")
    where = (lambda path: path) if reachable else (lambda path: "/nonexistent" + path)
    evaluator = ResidentEvaluator(Engine.from_env(), settings, host_path=where)
    try:
        assert evaluator.colour(_call(GREEN)).outcome == "green"
        first, volume = evaluator.name, _volume(docker_client, evaluator.name)
        verdict = evaluator.colour(_call(runaway, limit=0.5))
        assert verdict.outcome == "faulty" and "time limit of 0.5 s" in verdict.log
        assert evaluator.name == ""
        wait_until(lambda: not _exists(docker_client, first), 10, "the runaway evaluator to go")
        wait_until(lambda: not _volume_exists(docker_client, volume), 10, "its volume to go")
        assert evaluator.colour(_call(GREEN)).outcome == "green"
        assert evaluator.name not in ("", first) and evaluator.over_socket == reachable
    finally:
        evaluator.close()


def test_an_evaluator_removed_while_idle_is_replaced_without_failing_a_call(
    resident: ResidentEvaluator, docker_client: docker.DockerClient
) -> None:
    # As the reaper of a worker that does not see this one's heartbeat does (volume and all).
    assert resident.colour(_call(GREEN)).outcome == "green"
    first = resident.name
    docker_client.api.remove_container(first, force=True, v=True)
    assert resident.colour(_call(GREEN)).outcome == "green"
    assert resident.name not in ("", first)


def test_an_evaluator_goes_when_the_process_that_owns_it_is_killed(
    images: None, docker_client: docker.DockerClient
) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, DEPLOYMENT], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout is not None
        outcome, name = owner.stdout.readline().split()
        assert outcome == "green" and _exists(docker_client, name)
        volume = _volume(docker_client, name)
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    wait_until(lambda: not _exists(docker_client, name), 15, "the orphaned evaluator to go")
    wait_until(lambda: not _volume_exists(docker_client, volume), 15, "its volume to go")


OWNER = """
import sys, time
from app.config import Settings
from app.externals.engine import Engine
from app.colour.evaluator.resident import ResidentEvaluator
from app.colour.evaluator.wire import Call
from app.outcomes import Output
settings = Settings.from_env({}, deployment=sys.argv[1])
evaluator = ResidentEvaluator(Engine.from_env(), settings)
green = "def colour(stdout, stderr, status):\\n    return 'green'\\n"
verdict = evaluator.colour(Call("k", "python", green, Output("", "", 0), 1.0))
print(verdict.outcome, evaluator.name, flush=True)
time.sleep(600)
"""


def test_a_lambda_that_leaves_a_process_behind_gets_the_evaluator_replaced(
    resident: ResidentEvaluator, docker_client: docker.DockerClient
) -> None:
    assert resident.colour(_call(GREEN)).outcome == "green"
    first = resident.name
    assert resident.colour(_call(LEAVES_A_PROCESS)).outcome == "green"
    assert resident.name == ""  # retired: the next call gets a new one
    wait_until(lambda: not _exists(docker_client, first), 10, "the retired evaluator to go")
    assert resident.colour(_call(GREEN)).outcome == "green"
    assert resident.name not in ("", first)


def test_a_reply_that_is_not_a_verdict_replaces_the_evaluator(
    resident: ResidentEvaluator,
) -> None:
    # Into every descriptor the reply channel may be: the unix socket, or a copy of stdout.
    writes = (
        "import re\n"
        "def colour(a, b, c):\n"
        "    for fd in range(3, 10):\n"
        "        try:\n"
        "            re.enum.sys.modules['os'].write(fd, b'no\\n')\n"
        "        except Exception:\n"
        "            pass\n"
    )
    verdict = resident.colour(_call(writes + "    return 'green'\n"))
    assert verdict.outcome == "faulty"
    assert "not a verdict" in verdict.log
    assert resident.colour(_call(GREEN)).outcome == "green"


def test_an_evaluator_that_dies_mid_call_is_faulty_saying_so_and_replaced(
    resident: ResidentEvaluator,
) -> None:
    exits = "import re\ndef colour(a, b, c):\n    re.enum.sys.modules['os']._exit(3)\n"
    verdict = resident.colour(_call(exits))
    assert verdict.outcome == "faulty"
    assert "evaluator ended while evaluating it" in verdict.log
    assert resident.colour(_call(GREEN)).outcome == "green"


# Ruby lambdas, cyber-dojo's contract.

RUBY_RULE = "lambda { |stdout, stderr, status| status.zero? ? :green : 'red' }\n"


@pytest.mark.parametrize(("status", "colour"), [(0, "green"), (1, "red")])
def test_a_ruby_lambda_may_answer_with_a_symbol_or_a_string(
    resident: ResidentEvaluator, status: int, colour: str
) -> None:
    assert resident.colour(_call(RUBY_RULE, "ruby", status=status)).outcome == colour


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ("lambda { |stdout, stderr, status| :red \n", "does not compile: SyntaxError"),
        ("lambda { |o, e, s| raise ArgumentError, 'nope' }", "raised ArgumentError: nope"),
        ("lambda { |o, e, s| :blue }", "returned :blue, not red, amber or green"),
        ("lambda { |o, e, s| loop {} }", "longer than its time limit of 1.0 s"),
        ("'red'", "does not evaluate to a lambda"),
        ("lambda { |o, e| :red }", "raised ArgumentError"),
    ],
)
def test_a_broken_ruby_lambda_is_faulty_with_a_log_naming_the_failure_and_showing_the_source(
    resident: ResidentEvaluator, source: str, said: str
) -> None:
    verdict = resident.colour(_call(source, "ruby"))
    assert verdict.outcome == "faulty"
    assert said in verdict.log
    assert verdict.log.endswith(f"--- rag lambda source ---\n{source}")


def test_a_ruby_child_killed_for_overrunning_is_replaced_and_sent_its_sources_again(
    resident: ResidentEvaluator,
) -> None:
    assert resident.colour(_call(RUBY_RULE, "ruby", status=1)).outcome == "red"
    name = resident.name
    # Deaf to Timeout's interrupt: only the Python side's kill of the Ruby child stops it.
    stubborn = "lambda { |o, e, s| Thread.handle_interrupt(Object => :never) { loop {} } }"
    verdict = resident.colour(_call(stubborn, "ruby", limit=0.5))
    assert verdict.outcome == "faulty" and "time limit of 0.5 s" in verdict.log
    assert resident.colour(_call(RUBY_RULE, "ruby", status=0)).outcome == "green"
    assert resident.name == name, "the container lived on; only its Ruby child was replaced"


# One-shot evaluators.


def test_a_one_shot_evaluator_is_a_container_of_its_own_removed_after_the_call(
    resident: ResidentEvaluator, docker_client: docker.DockerClient
) -> None:
    settings = Settings.from_env({}, deployment=DEPLOYMENT)
    one_shot = OneShotEvaluator(Engine.from_env(), settings)
    resident.colour(_call(GREEN))
    peeks = (
        "import re\n"
        "os = re.enum.sys.modules['os']\n"
        "def colour(a, b, c):\n"
        "    return 'green' if len([p for p in os.listdir('/proc') if p.isdigit()]) == 2 "
        "else 'red'\n"
    )
    call_id = f"test-one-shot-{secrets.token_hex(4)}"  # another suite on this engine has its own
    assert one_shot.colour(call_id, _call(peeks)).outcome == "green"
    assert not _exists(docker_client, container_name(call_id))
    assert _exists(docker_client, resident.name)


# Reading a lambda's file from an image, with bounds.


@pytest.fixture(scope="module")
def odd_image(images: None, docker_client: docker.DockerClient) -> Iterator[str]:
    steps = [
        "FROM greenbar/busybox-sh",
        "RUN mkdir -p /x/dir && mkfifo /x/fifo && truncate -s 1G /x/big"
        " && echo 'def colour(a, b, c): return 1' > /x/real"
        " && ln -s /x/real /x/link && ln -s /x/dir /x/to-dir && ln -s /nowhere /x/dangling"
        " && ln -s /x/c1 /x/c0 && ln -s /x/c2 /x/c1 && ln -s /x/c3 /x/c2 && ln -s /x/c4 /x/c3"
        " && ln -s /x/c5 /x/c4 && ln -s /x/real /x/c5 && ln -s /x/l2 /x/l1 && ln -s /x/l1 /x/l2",
    ]
    image = build_image(docker_client, "\n".join(steps) + "\n")
    yield str(image.id)
    with contextlib.suppress(docker.errors.NotFound):
        docker_client.images.remove(image.id, force=True)


@pytest.fixture(scope="module")
def read(odd_image: str) -> Callable[..., ImageFile | None]:
    engine = Engine.from_env()
    labels = {"greenbar.kind": "rag-reader", "greenbar.deployment": DEPLOYMENT}
    return lambda *paths: engine.read_file(odd_image, paths, labels, 64 * 1024)


REAL = b"def colour(a, b, c): return 1\n"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("path", "found"),
    [
        ("/x/real", REAL),
        ("/x/link", REAL),
        ("/x/c1", REAL),
        ("/x/dir", "/x/dir is a directory, not a file"),
        ("/x/to-dir", "/x/to-dir is a directory, not a file"),
        ("/x/fifo", "/x/fifo is a named pipe, not a regular file"),
        ("/x/big", "/x/big is 1 GiB, over the 64 KiB it may be"),
        ("/x/c0", REAL),  # the engine resolves a chain of links in one step
        ("/x/l1", "/x/l1 could not be read: the engine could not look at it (500 Internal"),
        ("/x/dangling", None),
        ("/x/absent", None),
    ],
)
def test_only_a_small_regular_file_is_read_and_anything_else_says_what_it_is(
    read: Callable[..., ImageFile | None], path: str, found: bytes | str | None
) -> None:
    got = read(path)
    if found is None:
        assert got is None
    elif isinstance(found, bytes):
        assert got == ImageFile(path, content=found)
    else:
        assert got is not None and (got.path, got.content) == (path, b"")
        assert got.problem.startswith(found)


@pytest.mark.slow  # its image, with a 1 GiB file, takes seconds to build
def test_the_first_path_the_image_holds_anything_at_is_the_one_read(
    read: Callable[..., ImageFile | None],
) -> None:
    assert read("/x/absent", "/x/real") == ImageFile("/x/real", content=REAL)
    assert read("/x/dir", "/x/real") == ImageFile(
        "/x/dir", problem="/x/dir is a directory, not a file"
    )
