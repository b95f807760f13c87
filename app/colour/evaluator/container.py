"""The evaluator's hardened container: its settings, its opening, and what its failures mean.

A rag lambda is code the host did not write, so its container gets less than a run's: no
network, no host path, no Docker socket, nothing in its environment but the image's own, a
read-only root, no capabilities, a non-root user of its own, 32 processes and 256 MiB. The one
volume, the resident evaluator's, is an anonymous 64 KiB tmpfs of its own holding only the unix
socket it answers on; it carries the container's labels and goes with it.
"""

from collections.abc import Callable
from typing import Any

from app.colour.evaluator.channel import Broken, Channel
from app.colour.rag_lambda import Verdict
from app.config import Settings
from app.errors import EngineUnavailable
from app.externals import clock
from app.externals.engine import Engine
from app.sandbox.spec import LABEL_DEPLOYMENT, LABEL_KIND, LABEL_NODE, LABEL_RUN, LABEL_WORKER

IMAGE = "greenbar/evaluator:latest"
KIND = "evaluator"
PREFIX = "greenbar-evaluator-"
USER = "41967:51967"  # not the sandbox's 41966: runs and evaluators share no uid
UID = 41967
SOCKET_DIR = "/greenbar-socket"
# The socket volume is a tmpfs the local driver mounts at its mountpoint on the host: a lambda
# filling it fills 64 KiB of memory (charged to the evaluator), not the host's disk. Only UID,
# and the worker as root, can reach the socket in it.
SOCKET_VOLUME = {
    "Name": "local",
    "Options": {
        "type": "tmpfs",
        "device": "tmpfs",
        "o": f"size=64k,nr_inodes=16,mode=0700,uid={UID},gid=51967,nosuid,nodev,noexec",
    },
}
MEMORY_MIB = 256
PIDS_LIMIT = 32
MIB = 1024 * 1024
REPLY_CAP_BYTES = 1 * MIB  # a verdict and a log showing a source of at most 64 KiB
# The host waits this much longer than the lambda's limit: the Ruby child may have to start.
SLACK_SECONDS = 1.0


def labels(settings: Settings, worker: str = "", run: str = "") -> dict[str, str]:
    """A resident evaluator's labels name its `worker`; a one-shot's name its `run`."""
    found = {LABEL_KIND: KIND, LABEL_NODE: settings.node, LABEL_DEPLOYMENT: settings.deployment}
    found.update({LABEL_WORKER: worker} if worker else {})
    found.update({LABEL_RUN: run} if run else {})
    return found


def spec(
    name: str, labelled: dict[str, str], image: str = IMAGE, socket: bool = False
) -> dict[str, Any]:
    """`Engine.create` keywords for an evaluator container of `image`; given `socket`, with an
    anonymous volume at SOCKET_DIR for the unix socket it then also listens on."""
    memory = MEMORY_MIB * MIB
    # The memory figure also caps each process's address space: a huge allocation is a
    # MemoryError the lambda's log can show, not an OOM kill of the whole evaluator.
    command = ["python3", "-I", "-S", "/opt/greenbar/evaluate.py", str(memory)]
    # Anonymous (no source): Docker removes it with the container, auto_remove included,
    # so a killed worker's evaluator leaves no volume either.
    mounts = [
        {
            "Target": SOCKET_DIR,
            "Source": None,
            "Type": "volume",
            "ReadOnly": False,
            "VolumeOptions": {"Labels": labelled, "DriverConfig": SOCKET_VOLUME},
        }
    ]
    return {
        "image": image,
        "command": [*command, SOCKET_DIR] if socket else command,
        "name": name,
        "user": USER,
        "working_dir": "/",
        # docker-py sets StdinOnce with stdin_open: when the attach closes (the owner closed
        # it or died), stdin closes, the evaluator exits and auto_remove removes it.
        "stdin_open": True,
        "network_disabled": True,
        "labels": labelled,
        "host_config": {
            "network_mode": "none",
            "read_only": True,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "init": True,  # reaps what a lambda forks; its exit ends every process left
            "pids_limit": PIDS_LIMIT,
            "mem_limit": memory,
            "memswap_limit": memory,
            "nano_cpus": 1_000_000_000,
            "ulimits": [
                {"name": n, "soft": v, "hard": v}
                for n, v in {"core": 0, "nofile": 64, "fsize": MIB}.items()
            ],
            "tmpfs": {"/tmp": "rw,noexec,nosuid,nodev,size=1m,nr_inodes=64"},
            "log_config": {"type": "none"},
            "auto_remove": True,
            "mounts": mounts if socket else [],
        },
    }


def opened(
    engine: Engine,
    name: str,
    labelled: dict[str, str],
    clock: Callable[[], float],
    image: str = IMAGE,
) -> Channel:
    """Creates, attaches and starts an evaluator container of `image` named `name`.

    Raises:
        ImageMissing: the node has no such image.
        EngineUnavailable: the engine failed (the container is removed).
    """
    return opened_with_socket(engine, name, labelled, clock, image, socket=False)[0]


def opened_with_socket(
    engine: Engine,
    name: str,
    labelled: dict[str, str],
    clock: Callable[[], float],
    image: str = IMAGE,
    socket: bool = True,
) -> tuple[Channel, str | None]:
    """As `opened`, with the socket volume given `socket`: the attach channel, and where the
    volume lives on the engine's host (None without one)."""
    engine.create(spec(name, labelled, image, socket))
    try:
        source = engine.mount_source(name, SOCKET_DIR) if socket else None
        sock = engine.attach(name)
        engine.start(name)
    except EngineUnavailable:
        engine.remove(name)
        raise
    return Channel(sock, REPLY_CAP_BYTES, clock), source


def deadline(limit: float, clock: Callable[[], float] = clock.monotonic) -> float:
    return clock() + limit + SLACK_SECONDS


def failure(error: Broken, limit: float, source: str, ended: str) -> Verdict:
    """The faulty verdict of a call the evaluator did not answer well; `ended` says how the
    container ended, when it did."""
    if error.kind == "deadline":
        why = (
            f"the rag lambda took longer than its time limit of {limit} s: its evaluator gave "
            f"no answer within {limit + SLACK_SECONDS} s and was stopped"
        )
    elif error.kind == "ended":
        why = f"the rag lambda's evaluator ended while evaluating it{ended}"
    elif error.kind == "cap":
        why = f"the rag lambda's evaluator answered more than {REPLY_CAP_BYTES // MIB} MiB"
    else:
        why = f"the rag lambda's evaluator answered something that is not a verdict: {error.detail}"
    return Verdict.faulty(why, source)


def how_it_ended(engine: Engine, name: str) -> str:
    """What the engine still knows of a dead evaluator (auto_remove may have removed it)."""
    try:
        state = engine.state(name)
    except EngineUnavailable:
        return ""
    if state is None or state.running:
        return ""
    if state.oom_killed:
        return f" (it was killed for using more than {MEMORY_MIB} MiB of memory)"
    return f" (it exited with status {state.exit_code})"


def missing_image(node: str, image: str = IMAGE) -> Verdict:
    why = (
        f"node {node} has no {image} image to evaluate rag lambdas in: build it there with "
        "images/build.py evaluator, or pull it (a starting worker does, pulls enabled)"
    )
    return Verdict.faulty(why, "")
