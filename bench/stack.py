"""A private greenbar stack for one benchmark run: Redis, a worker and the API (gunicorn as the
Procfile runs it), as subprocesses."""

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Stack:
    url: str  # the web API's base URL
    redis_url: str
    worker_pid: int


@contextmanager
def private_stack(
    concurrency: int = 2, web: list[str] | None = None, **env_overrides: str
) -> Iterator[Stack]:
    """Starts Redis, a Celery worker and the web API, and stops them afterwards.

    Args:
        concurrency: the worker's pool processes.
        web: gunicorn's arguments before the application, `{port}` standing for the API's
            port; default: the Procfile's.
    """
    redis_port, web_port = free_port(), free_port()
    env = {
        **os.environ,
        "GREENBAR_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "GREENBAR_NODE": "bench-node",
        "GREENBAR_WORKER_CONCURRENCY": str(concurrency),
        "GREENBAR_DEPLOYMENT": "bench",
        "GREENBAR_PORT": str(web_port),
        **env_overrides,
    }
    logs = Path(tempfile.mkdtemp(prefix="greenbar-bench-"))
    commands = {
        "redis": ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
        "worker": [str(VENV_BIN / "celery"), "-A", "tasks.worker", "worker", "-l", "warning"],
        "web": [
            str(VENV_BIN / "gunicorn"),
            *(a.format(port=web_port) for a in web or ["-c", "web/gunicorn_conf.py"]),
            "web:create_app()",
        ],
    }
    processes = []
    try:
        for name, command in commands.items():
            log = open(logs / f"{name}.log", "wb")  # noqa: SIM115 — lives as long as the process
            processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log))
        url = f"http://127.0.0.1:{web_port}"
        _wait_ready(url, logs)
        yield Stack(url, env["GREENBAR_REDIS_URL"], processes[1].pid)
    finally:
        for process in reversed(processes):  # Redis last: the worker needs it to shut down
            process.terminate()
            process.wait(60)
        _remove_supervisor_volumes("bench")


def _remove_supervisor_volumes(deployment: str) -> None:
    """A node's supervisor volume outlives its workers on purpose (a real node reuses it): a
    benchmark's private node goes with its stack, volume included."""
    labels = [f"greenbar.deployment={deployment}", "greenbar.kind=supervisor"]
    filters = [arg for label in labels for arg in ("--filter", f"label={label}")]
    listed = subprocess.run(
        ["docker", "volume", "ls", "-q", *filters], capture_output=True, text=True, check=False
    )
    names = listed.stdout.split()
    if names:
        subprocess.run(["docker", "volume", "rm", *names], capture_output=True, check=False)


def _wait_ready(url: str, logs: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the private stack did not become ready; logs in {logs}")
