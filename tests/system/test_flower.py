"""Flower, started by the Procfile's `flower` line, against the test stack's Redis and worker.

It sees greenbar's worker and a finished `greenbar.run` by name and state (the worker sends task
events), and its API asks for the basic auth set with GREENBAR_FLOWER_BASIC_AUTH.
"""

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from honcho.environ import parse_procfile

from app.config import Settings
from tests.helpers import ROOT, free_port, run, wait_until

CREDENTIALS = "user:secret"
FLOWER_READY_SECONDS = 30
WORKER_SEEN_SECONDS = 30
TASK_SEEN_SECONDS = 30
STOP_SECONDS = 10


def procfile_line(name: str) -> str:
    """Returns the command of the Procfile's process `name`, run with this test's interpreter.

    `.venv/bin/` becomes the folder of the running Python, so the line runs in this environment.
    """
    processes = parse_procfile((ROOT / "Procfile").read_text()).processes
    if name not in processes:
        pytest.fail(f"the Procfile has no {name} line")
    return str(processes[name]).replace(".venv/bin/", f"{Path(sys.executable).parent}/")


@contextlib.contextmanager
def flower_process(redis_url: str, log: Path, **env: str) -> Iterator[str]:
    """Runs the Procfile's Flower on a free port against `redis_url`, with `env` added.

    Flower's own FLOWER_* variables are not inherited: only `env` configures it.

    Yields:
        Flower's base URL, once it answers GET /healthcheck.
    """
    port = free_port()
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("FLOWER_")}
    environment = {
        **inherited,
        "GREENBAR_REDIS_URL": redis_url,
        "GREENBAR_FLOWER_PORT": str(port),
        **env,
    }
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["sh", "-c", procfile_line("flower")],
            cwd=ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: process.poll() is not None or get(url + "/healthcheck")[0] == 200,
            FLOWER_READY_SECONDS,
            "Flower to answer GET /healthcheck",
        )
        if process.poll() is not None:
            pytest.fail(f"Flower exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        yield url
    finally:
        stop(process)


def stop(process: "subprocess.Popen[bytes]") -> None:
    """SIGTERMs the process group, then SIGKILLs it if it outlives STOP_SECONDS."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def get(url: str, credentials: str | None = None) -> tuple[int, bytes]:
    """GETs `url`, with HTTP basic auth when `credentials` (user:password) are given.

    Returns:
        The status and the body; status 0 when nothing answers.
    """
    request = urllib.request.Request(url)
    if credentials is not None:
        token = base64.b64encode(credentials.encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def get_json(url: str) -> Any:
    """GETs `url` with the right credentials and decodes its JSON body."""
    status, body = get(url, CREDENTIALS)
    assert status == 200, (url, status, body[:500])
    return json.loads(body)


@pytest.fixture(scope="module")
def flower(
    settings: Settings, worker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Flower with basic auth, started after the worker and before any run of this module."""
    log = tmp_path_factory.mktemp("flower") / "flower.log"
    with flower_process(settings.redis_url, log, GREENBAR_FLOWER_BASIC_AUTH=CREDENTIALS) as url:
        yield url


def test_flower_shows_a_finished_run(flower: str, api: Any, settings: Settings) -> None:
    names: list[str] = []

    def worker_listed() -> bool:
        found = get_json(flower + "/api/workers?refresh=1")
        names[:] = [name for name in found if name.endswith("@" + settings.node)]
        return bool(names)

    wait_until(worker_listed, WORKER_SEEN_SECONDS, "Flower to list the test worker")
    # Flower only sees the events sent after it subscribed; a heartbeat event from the worker
    # shows that it has.
    online = re.compile(rf'flower_worker_online\{{worker="{re.escape(names[0])}"\}} 1\.0')
    wait_until(
        lambda: online.search(get(flower + "/metrics")[1].decode()) is not None,
        WORKER_SEEN_SECONDS,
        "Flower to receive the worker's heartbeat events",
    )

    sent_at = time.time()
    run(api, {"cyber-dojo.sh": "echo hi"})

    finished: list[dict[str, Any]] = []

    def run_finished() -> bool:
        tasks = get_json(flower + "/api/tasks").values()
        finished[:] = [
            task
            for task in tasks
            if task.get("name") == "greenbar.run"
            and task.get("state") == "SUCCESS"
            and (task.get("received") or 0) >= sent_at
        ]
        return bool(finished)

    wait_until(run_finished, TASK_SEEN_SECONDS, "Flower to show a finished greenbar.run")
    assert finished[0]["worker"] in names


def test_flower_asks_for_basic_auth(flower: str) -> None:
    for path in ("/api/tasks", "/api/workers", "/"):
        assert get(flower + path)[0] == 401, path
        assert get(flower + path, "user:wrong")[0] == 401, path
        assert get(flower + path, CREDENTIALS)[0] == 200, path


def test_flower_without_basic_auth_keeps_its_api_closed(settings: Settings, tmp_path: Path) -> None:
    # An empty setting means no auth, not an empty password list that would lock everyone out.
    env = {"GREENBAR_FLOWER_BASIC_AUTH": "", "FLOWER_BASIC_AUTH": ""}
    with flower_process(settings.redis_url, tmp_path / "flower.log", **env) as url:
        assert get(url + "/tasks")[0] == 200
        # Flower 2 serves no API without authentication unless FLOWER_UNAUTHENTICATED_API is set.
        assert get(url + "/api/tasks")[0] == 401


# Where Flower listens (issue 12: Flower requires auth whenever it listens beyond loopback).


def _listening_on(port: int) -> set[str]:
    return {
        c.laddr.ip
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port
    }


def _flower_script(**env: str) -> "subprocess.CompletedProcess[str]":
    """scripts/flower.sh with `echo` for Flower: what it would run, or its refusal."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWER_", "GREENBAR_"))}
    return subprocess.run(
        ["sh", "scripts/flower.sh", "echo", "flower"],
        cwd=ROOT,
        env={**inherited, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_flower_listens_on_loopback_by_default(flower: str) -> None:
    assert _listening_on(int(flower.rsplit(":", 1)[1])) == {"127.0.0.1"}


def test_flower_refuses_to_listen_beyond_loopback_without_auth(
    settings: Settings, tmp_path: Path
) -> None:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("FLOWER_")}
    env = {
        **inherited,
        "GREENBAR_REDIS_URL": settings.redis_url,
        "GREENBAR_FLOWER_PORT": str(free_port()),
        "GREENBAR_FLOWER_BIND": "0.0.0.0",
    }
    done = subprocess.run(
        ["sh", "-c", procfile_line("flower")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "Flower would be reached on 0.0.0.0 with no auth" in done.stderr


@pytest.mark.parametrize(
    "env",
    [
        {"GREENBAR_FLOWER_PUBLISH_ADDRESS": "192.0.2.7"},
        {"GREENBAR_FLOWER_BIND": "0.0.0.0", "GREENBAR_FLOWER_PUBLISH_ADDRESS": "0.0.0.0"},
        {"GREENBAR_FLOWER_BIND": "0.0.0.0", "GREENBAR_FLOWER_BASIC_AUTH": ""},
    ],
)
def test_flower_reached_beyond_loopback_without_auth_is_refused(env: dict[str, str]) -> None:
    done = _flower_script(**env)
    assert done.returncode == 2 and done.stdout == ""
    assert "with no auth" in done.stderr


@pytest.mark.parametrize(
    "env, address",
    [
        ({}, "127.0.0.1"),
        ({"GREENBAR_FLOWER_BIND": "0.0.0.0", "GREENBAR_FLOWER_BASIC_AUTH": CREDENTIALS}, "0.0.0.0"),
        ({"GREENBAR_FLOWER_BIND": "0.0.0.0", "FLOWER_AUTH": ".*@example.org"}, "0.0.0.0"),
        # compose: every interface of its container, published on the host's loopback
        (
            {"GREENBAR_FLOWER_BIND": "0.0.0.0", "GREENBAR_FLOWER_PUBLISH_ADDRESS": "127.0.0.1"},
            "0.0.0.0",
        ),
    ],
)
def test_flower_starts_on_loopback_or_with_auth(env: dict[str, str], address: str) -> None:
    done = _flower_script(**env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["flower", f"--address={address}"]
    assert done.stderr == ""


def test_flower_opened_on_purpose_says_so(settings: Settings) -> None:
    done = _flower_script(GREENBAR_FLOWER_BIND="0.0.0.0", GREENBAR_INSECURE_OPEN="1")
    assert done.returncode == 0
    assert done.stdout.split() == ["flower", "--address=0.0.0.0"]
    assert (
        "WARNING GREENBAR_INSECURE_OPEN: Flower is reached on 0.0.0.0 with no auth" in done.stderr
    )


def test_flower_with_basic_auth_may_listen_beyond_loopback(
    settings: Settings, worker: Any, tmp_path: Path
) -> None:
    env = {"GREENBAR_FLOWER_BASIC_AUTH": CREDENTIALS, "GREENBAR_FLOWER_BIND": "0.0.0.0"}
    with flower_process(settings.redis_url, tmp_path / "flower.log", **env) as url:
        assert get(url + "/api/workers")[0] == 401
        assert _listening_on(int(url.rsplit(":", 1)[1])) == {"0.0.0.0"}
