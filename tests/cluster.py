"""A cluster on one machine: a local image registry, a second Docker engine and worker processes.

Plain context managers, not fixtures, so any test module can wrap them in fixtures of whatever
scope it needs. Each one cleans up fully even when its body raises, and raises `StartupError`
with the tail of the process's log when its process does not come up in time.
"""

import contextlib
import dataclasses
import functools
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import psutil
import redis

from app.cluster.workers import WorkerRegistry

ROOT = Path(__file__).resolve().parents[1]
REGISTRY_READY_SECONDS = 20
ENGINE_READY_SECONDS = 30
ENGINE_STOP_SECONDS = 20
WORKER_READY_SECONDS = 60
WORKER_STOP_SECONDS = 30
HEARTBEAT_TTL_SECONDS = 15
LOG_TAIL_LINES = 20
LOG_TAIL_CHARS = 4000

_worker_logs: "weakref.WeakKeyDictionary[subprocess.Popen[bytes], Path]" = (
    weakref.WeakKeyDictionary()
)


class StartupError(RuntimeError):
    """A process of the cluster did not come up in time, or exited while starting."""


# Shared plumbing.


def _free_port() -> int:
    """Returns a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(log: Path, lines: int = LOG_TAIL_LINES) -> str:
    """Returns the last `lines` lines of `log`, or a note when it cannot be read."""
    try:
        text = log.read_text(errors="replace")
    except OSError as error:
        return f"(no log: {error})"
    return "\n".join(text.splitlines()[-lines:])[-LOG_TAIL_CHARS:]


def _start(command: list[str], log: Path, **options: Any) -> "subprocess.Popen[bytes]":
    """Starts `command` with stdout and stderr appended to `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **options
        )


def _wait_ready(
    ready: Callable[[], bool],
    process: "subprocess.Popen[bytes]",
    seconds: float,
    what: str,
    log: Path,
) -> None:
    """Polls `ready` until it holds; fails early if `process` exits, or after `seconds`.

    Raises:
        StartupError: the process exited or `seconds` passed; the message ends with the log tail.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartupError(
                f"{what} exited with {process.returncode} while starting; its log ends:\n"
                + _tail(log)
            )
        if ready():
            return
        time.sleep(0.1)
    raise StartupError(f"{what} was not ready after {seconds} s; its log ends:\n{_tail(log)}")


def _terminate(process: "subprocess.Popen[bytes]", grace: float) -> int:
    """SIGTERMs `process`, waits up to `grace` seconds, then SIGKILLs it and its children."""
    if process.poll() is not None:
        return process.returncode
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    children = _children(process.pid)
    process.kill()
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()
    return process.wait()


def _children(pid: int) -> list[psutil.Process]:
    """Returns every descendant of `pid`, or none if it has gone."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


@contextlib.contextmanager
def _reported(what: str, log: Path) -> Iterator[None]:
    """When the body raises, writes the tail of `log` to stderr, where pytest shows it."""
    try:
        yield
    except Exception:
        print(f"--- {what} log ({log}) when the body failed:\n{_tail(log)}", file=sys.stderr)
        raise


# 1. A local image registry.


def _registry_config(storage: Path, port: int) -> str:
    """Returns a docker-registry config: filesystem storage, plain http, no auth, deletes on."""
    return (
        "version: 0.1\n"
        "log:\n"
        "  level: info\n"
        "storage:\n"
        "  filesystem:\n"
        f"    rootdirectory: {storage}\n"
        "  delete:\n"
        "    enabled: true\n"
        "http:\n"
        f"  addr: 127.0.0.1:{port}\n"
    )


def _registry_answers(port: int) -> bool:
    """Whether `GET /v2/` on the registry answers 200."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def local_registry() -> Iterator[str]:
    """Runs `docker-registry serve` on a free port with storage in a fresh temporary directory.

    Docker treats registries on 127.0.0.0/8 as insecure, so every engine on this machine pushes
    to and pulls from it over plain http.

    Yields:
        The registry's address, `127.0.0.1:PORT`, to prefix image references with.

    Raises:
        StartupError: the registry did not answer `GET /v2/` within REGISTRY_READY_SECONDS.
    """
    home = Path(tempfile.mkdtemp(prefix="greenbar-registry-"))
    log = home / "registry.log"
    try:
        port = _free_port()
        (home / "storage").mkdir()
        config = home / "config.yml"
        config.write_text(_registry_config(home / "storage", port))
        process = _start(["docker-registry", "serve", str(config)], log)
        try:
            ready = functools.partial(_registry_answers, port)
            _wait_ready(ready, process, REGISTRY_READY_SECONDS, "the registry", log)
            with _reported("the registry", log):
                yield f"127.0.0.1:{port}"
        finally:
            _terminate(process, 10)
    finally:
        shutil.rmtree(home, ignore_errors=True)


# 2. A second, independent Docker engine.


@dataclasses.dataclass(frozen=True)
class _EnginePaths:
    """Where one engine keeps its state: data-root on disk, the rest under /run.

    Every path holds `token`, so nothing is shared with another engine or another call.
    """

    token: str

    @property
    def data(self) -> Path:
        return Path(f"/var/lib/greenbar-test-{self.token}")

    @property
    def run(self) -> Path:
        return Path(f"/run/greenbar-test-{self.token}")

    @property
    def socket(self) -> Path:
        return self.run / "docker.sock"

    @property
    def log(self) -> Path:
        return self.run / "dockerd.log"

    @property
    def cgroup_parent(self) -> str:
        return f"greenbar-test-{self.token}"


def _dockerd_command(paths: _EnginePaths) -> list[str]:
    """Returns the dockerd command line: no bridge, no iptables, its own config and cgroups."""
    return [
        *("dockerd", "--config-file", str(paths.run / "daemon.json")),
        *("--data-root", str(paths.data), "--exec-root", str(paths.run / "exec")),
        *("-H", f"unix://{paths.socket}", "--pidfile", str(paths.run / "docker.pid")),
        *("--cgroup-parent", f"/{paths.cgroup_parent}"),
        *("--bridge", "none", "--iptables=false", "--ip-masq=false"),
    ]


def _engine_answers(base_url: str) -> bool:
    """Whether the engine at `base_url` answers a ping."""
    try:
        client = docker.DockerClient(base_url=base_url, timeout=2)
    except docker.errors.DockerException:
        return False
    try:
        return bool(client.ping())
    except (docker.errors.DockerException, OSError):
        return False
    finally:
        client.close()


def _remove_containers(base_url: str) -> None:
    """Force-removes every container on the engine at `base_url`; best effort."""
    with contextlib.suppress(docker.errors.DockerException, OSError):
        client = docker.DockerClient(base_url=base_url, timeout=30)
        try:
            for container in client.containers.list(all=True):
                with contextlib.suppress(docker.errors.DockerException):
                    container.remove(force=True)
        finally:
            client.close()


def _kill_leftovers(paths: _EnginePaths) -> None:
    """SIGKILLs what a dead dockerd can leave running: its containerd, shims and their children.

    They are found by the engine's unique paths on their command lines, then killed by pid.
    """
    marks = (str(paths.run), str(paths.data))
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(mark in arg for arg in process.info["cmdline"] or () for mark in marks):
            found += [*_children(process.pid), process]
    for process in found:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(found, timeout=10)


def _remove_cgroups(paths: _EnginePaths) -> None:
    """Removes the engine's (by now empty) cgroup directories, deepest first."""
    tops = glob.glob(f"/sys/fs/cgroup/{paths.cgroup_parent}")
    tops += glob.glob(f"/sys/fs/cgroup/*/{paths.cgroup_parent}")
    for top in tops:
        for directory, _, _ in os.walk(top, topdown=False):
            with contextlib.suppress(OSError):
                os.rmdir(directory)


def _mounts_under(*roots: Path) -> list[str]:
    """Returns the mount points under any of `roots`, deepest first, from /proc/mounts."""
    prefixes = [str(root) for root in roots]
    found = []
    for line in Path("/proc/mounts").read_text().splitlines():
        point = _unescape_mount(line.split()[1])
        if any(point == p or point.startswith(p + "/") for p in prefixes):
            found.append(point)
    return sorted(found, key=len, reverse=True)


def _unescape_mount(field: str) -> str:
    """Decodes the octal escapes (`\\040` for a space) /proc/mounts uses in paths."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _unmount_and_remove(*roots: Path) -> None:
    """Lazily unmounts everything under `roots`, then deletes them.

    Raises:
        RuntimeError: something is still mounted under a root; nothing is deleted then.
    """
    for point in _mounts_under(*roots):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
    left = _mounts_under(*roots)
    if left:
        raise RuntimeError(f"still mounted, not deleting {roots}: {left}")
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)


def _sweep_engine(paths: _EnginePaths) -> None:
    """Clears away everything a stopped engine may have left: processes, cgroups, mounts, files."""
    try:
        _kill_leftovers(paths)
        _remove_cgroups(paths)
    finally:
        _unmount_and_remove(paths.data, paths.run)


@contextlib.contextmanager
def second_engine() -> Iterator[str]:
    """Runs a second dockerd with its own data-root, exec-root, socket, pidfile and cgroups.

    The engine has no bridge network: containers on it need `network_mode='none'`.
    On exit every container on it is removed, dockerd stopped and its directories deleted.

    Yields:
        The engine's base URL, `unix:///run/greenbar-test-TOKEN/docker.sock`.

    Raises:
        StartupError: the engine did not answer a ping within ENGINE_READY_SECONDS.
    """
    paths = _EnginePaths(uuid.uuid4().hex[:10])
    base_url = f"unix://{paths.socket}"
    paths.run.mkdir(mode=0o700)
    try:
        (paths.run / "daemon.json").write_text("{}\n")  # not /etc/docker/daemon.json
        _engines[base_url] = (paths, [_start_engine(paths, base_url)])
        try:
            with _reported("the second dockerd", paths.log):
                yield base_url
        finally:
            _remove_containers(base_url)
            _terminate(_engines.pop(base_url)[1][-1], ENGINE_STOP_SECONDS)
    finally:
        _sweep_engine(paths)


_engines: dict[str, tuple[_EnginePaths, list["subprocess.Popen[bytes]"]]] = {}


def _start_engine(paths: _EnginePaths, base_url: str) -> "subprocess.Popen[bytes]":
    process = _start(_dockerd_command(paths), paths.log, start_new_session=True)
    ready = functools.partial(_engine_answers, base_url)
    _wait_ready(ready, process, ENGINE_READY_SECONDS, "the second dockerd", paths.log)
    return process


def restart_engine(base_url: str) -> None:
    """Stops the second engine at `base_url` as an operator's restart would (SIGTERM: its
    containers die) and starts it again on the same paths, waiting until it answers."""
    paths, processes = _engines[base_url]
    _terminate(processes[-1], ENGINE_STOP_SECONDS)
    processes.append(_start_engine(paths, base_url))


# 3. Celery worker processes.


def _worker_env(
    node: str, redis_url: str, docker_host: str | None, concurrency: int
) -> dict[str, str]:
    """Returns the environment for a worker: this one plus greenbar's settings."""
    env = {
        **os.environ,
        "GREENBAR_REDIS_URL": redis_url,
        "GREENBAR_NODE": node,
        "GREENBAR_WORKER_CONCURRENCY": str(concurrency),
    }
    if docker_host is not None:
        env["DOCKER_HOST"] = docker_host
    return env


def _worker_command(name: str) -> list[str]:
    """Returns the command line that starts a worker called `name`."""
    celery = [sys.executable, "-m", "celery", "-A", "tasks.worker", "worker", "-n", name]
    return [*celery, "-l", "info", "--without-mingle", "--without-gossip"]


def _heartbeat_seen(redis_url: str, name: str) -> bool:
    """Whether a live heartbeat of the worker called `name` is in Redis."""
    client = redis.Redis.from_url(redis_url)
    try:
        return WorkerRegistry(client, HEARTBEAT_TTL_SECONDS).is_live(name)
    except Exception:  # Redis not answering yet counts as "not seen"
        return False
    finally:
        client.close()


def worker_log(process: "subprocess.Popen[bytes]") -> str:
    """Returns what the worker started by `celery_worker` has logged so far.

    Valid until its `celery_worker` context exits, which deletes the log.
    """
    return _worker_logs[process].read_text(errors="replace")


def stop_worker(process: "subprocess.Popen[bytes]") -> int:
    """Stops a worker as an operator would: SIGTERM, up to 30 s to finish, then SIGKILL.

    Returns:
        The worker's exit status. Stopping a worker that has already exited is harmless.
    """
    return _terminate(process, WORKER_STOP_SECONDS)


@contextlib.contextmanager
def celery_worker(
    name: str,
    node: str,
    redis_url: str,
    docker_host: str | None = None,
    concurrency: int = 2,
    extra_env: dict[str, str] | None = None,
) -> Iterator["subprocess.Popen[bytes]"]:
    """Runs a real Celery worker process, as `celery -A tasks.worker worker`, in the repository.

    Args:
        name: the worker's name (`-n`); its heartbeat is filed under it.
        node: GREENBAR_NODE, the node the worker says it runs on.
        redis_url: GREENBAR_REDIS_URL, broker and store.
        docker_host: DOCKER_HOST for the worker's engine; inherited when None.
        concurrency: GREENBAR_WORKER_CONCURRENCY, the number of pool children.
        extra_env: more environment variables; they win over the ones above.

    Yields:
        The worker's process, once its heartbeat is live; see `worker_log` and `stop_worker`.

    Raises:
        StartupError: the worker exited, or no heartbeat appeared in WORKER_READY_SECONDS.
    """
    home = Path(tempfile.mkdtemp(prefix="greenbar-worker-"))
    log = home / "worker.log"
    env = {**_worker_env(node, redis_url, docker_host, concurrency), **(extra_env or {})}
    try:
        process = _start(_worker_command(name), log, cwd=ROOT, env=env)
        _worker_logs[process] = log
        try:
            what = f"the worker {name}"
            ready = functools.partial(_heartbeat_seen, redis_url, name)
            _wait_ready(ready, process, WORKER_READY_SECONDS, what, log)
            with _reported(what, log):
                yield process
        finally:
            stop_worker(process)
    finally:
        shutil.rmtree(home, ignore_errors=True)


# 4. Moving images between engines through the registry.


def push_image(
    client: docker.DockerClient, image: str, registry: str, repository: str, tag: str = "latest"
) -> str:
    """Tags `image` as `REGISTRY/REPOSITORY:TAG` on `client`'s engine and pushes it.

    The tag stays on that engine; remove it with `client.images.remove(reference)`.

    Returns:
        The pushed reference, `REGISTRY/REPOSITORY:TAG`.

    Raises:
        RuntimeError: the push stream reported an error; the message is the registry's.
    """
    target = f"{registry}/{repository}"
    client.images.get(image).tag(target, tag)
    for event in client.api.push(target, tag, stream=True, decode=True):
        error = event.get("error") or (event.get("errorDetail") or {}).get("message")
        if error:
            raise RuntimeError(f"pushing {target}:{tag} failed: {error}")
    return f"{target}:{tag}"


def pull_on(base_url: str, reference: str) -> str:
    """Pulls `reference` on the engine at `base_url`.

    Returns:
        The pulled image's id, `sha256:...`.
    """
    client = docker.DockerClient(base_url=base_url, timeout=120)
    try:
        return str(client.images.pull(reference).id)
    finally:
        client.close()


def forget_registry(client: docker.DockerClient, registry: str) -> list[str]:
    """Removes every tag and digest reference to `registry` from `client`'s engine.

    A push records a digest reference (`REGISTRY/REPO@sha256:...`) that outlives the tag once
    the tag moves to a newer build; this clears both. An image left with no reference at all
    is deleted by the engine, as `docker rmi` does.

    Returns:
        The references removed.
    """
    removed = []
    for reference in _references_to(client, registry):
        with contextlib.suppress(docker.errors.NotFound):
            client.images.remove(reference)
            removed.append(reference)
    return removed


def _references_to(client: docker.DockerClient, registry: str) -> list[str]:
    """Returns the tags and digest references on `client`'s engine that name `registry`."""
    found = []
    for image in client.images.list():
        names = (image.attrs.get("RepoTags") or []) + (image.attrs.get("RepoDigests") or [])
        found += [name for name in names if name.startswith(registry + "/")]
    return found
