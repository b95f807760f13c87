"""The root of the suite's three layers, each a directory and a marker of the same name:
`unit` (no Docker engine, no Celery: pure logic and Redis-only code), `integration` (one real
worker and engine) and `system` (clusters, faults, hostile programs, the deployment).

Here are the real parts the integration and system tests use: a private Redis, the node's
Docker engine, the bundled images, a real Celery worker process and the Flask app. Fixtures
are lazy, so a unit test starts none of them but the Redis it asks for.

A part that cannot be found fails the suite; nothing is skipped for want of a service.
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import redis

from app.cluster.workers import WorkerRegistry
from app.config import Settings
from tests.helpers import DEPLOYMENT, redis_server, wait_until
from web import create_app

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
LAYERS = ("unit", "integration", "system")
NODE = "test-node"
WORKER_READY_SECONDS = 60
REMOVALS_SECONDS = 60
os.environ["GREENBAR_DEPLOYMENT"] = DEPLOYMENT  # every process the suite starts inherits it


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--runtime",
        default="runc",
        help="the OCI runtime every worker the suite starts runs sandboxes under (runc, runsc)",
    )


def pytest_configure(config: pytest.Config) -> None:
    os.environ["GREENBAR_RUNTIME"] = config.getoption("runtime")  # workers inherit it


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks each test with its layer, the directory under tests/ it lives in."""
    for item in items:
        layer = _layer(item)
        if layer is not None:
            item.add_marker(layer)


def _layer(item: pytest.Item) -> str | None:
    path = Path(item.path)
    if not path.is_relative_to(TESTS):
        return None
    top = path.relative_to(TESTS).parts[0]
    return top if top in LAYERS else None


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except docker.errors.DockerException as error:
        pytest.fail(f"no Docker engine: {error}; run scripts/test.sh, which starts dockerd")
    yield client
    client.close()


@pytest.fixture(scope="session")
def images(docker_client: docker.DockerClient) -> None:
    """Builds the bundled images when missing or stale (cached by content hash)."""
    for script in ("images/build.py", "supervisor/build.py"):
        done = subprocess.run([sys.executable, str(ROOT / script)], check=False)
        if done.returncode != 0:
            pytest.fail(f"{script} failed")


@pytest.fixture(scope="session")
def settings(redis_url: str) -> Settings:
    return Settings.from_env(
        {},
        redis_url=redis_url,
        node=NODE,
        deployment=DEPLOYMENT,
        runtime=os.environ["GREENBAR_RUNTIME"],
    )


@pytest.fixture(scope="session")
def worker_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("worker") / "worker.log"


@pytest.fixture(scope="session")
def worker(
    settings: Settings, images: None, docker_client: docker.DockerClient, worker_log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker process (prefork, two children) for the whole session."""
    name = f"test-{os.getpid()}@{NODE}"
    env = {
        **os.environ,
        "GREENBAR_REDIS_URL": settings.redis_url,
        "GREENBAR_NODE": NODE,
        "GREENBAR_WORKER_CONCURRENCY": "2",
    }
    command = [sys.executable, "-m", "celery", "-A", "tasks.worker", "worker", "-n", name]
    with open(worker_log, "wb") as log:
        process = subprocess.Popen(
            [*command, "-l", "info", "--without-mingle", "--without-gossip"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        registry = WorkerRegistry(redis.Redis.from_url(settings.redis_url), 15)
        wait_until(
            lambda: registry.is_live(name) or process.poll() is not None,
            WORKER_READY_SECONDS,
            "the Celery worker's heartbeat",
        )
        if process.poll() is not None:
            pytest.fail(f"the worker exited with {process.returncode}: see {worker_log}")
        yield process
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def api(settings: Settings, worker: Any) -> Any:
    """A Flask test client of the real app, enqueueing through real Celery into real Redis."""
    return create_app(settings).test_client()


@pytest.fixture(scope="session", autouse=True)
def nothing_labelled_is_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """At the end of the suite, no container or volume of this suite's deployments remains.

    Not asked when every test was a unit test: those never reach an engine, and run where
    none is.
    """
    yield
    if all(_layer(item) == "unit" for item in request.session.items):
        return
    client = docker.from_env()

    def containers() -> list[str]:
        # Summaries, not containers.list(): that inspects each one, racing with removals.
        summaries = client.api.containers(all=True)
        return [c["Names"][0] for c in summaries if _greenbar(c.get("Labels") or {})]

    # Removals the worker issued last are asynchronous at the engine, and a sandbox that held a
    # fork bomb takes seconds to go under gVisor: allow them a bounded time before judging.
    deadline = time.monotonic() + REMOVALS_SECONDS
    while containers() and time.monotonic() < deadline:
        time.sleep(0.5)
    left = containers()
    # A node's supervisor volume is meant to outlive its workers, as an image does (the pruner
    # removes old versions): the suite removes its own by hand, and anything else must be gone.
    for volume in (
        client.api.volumes(filters={"label": "greenbar.kind=supervisor"})["Volumes"] or []
    ):
        if _greenbar(volume.get("Labels") or {}) and not left:
            client.api.remove_volume(volume["Name"])
    listed = client.api.volumes().get("Volumes") or []
    volumes = [v["Name"] for v in listed if _greenbar(v.get("Labels") or {})]
    assert not left and not volumes, f"left behind: {left} {volumes}"


def _greenbar(labels: dict[str, str]) -> bool:
    # Everything greenbar creates carries its deployment (tests/unit/test_units.py checks the label
    # helpers); a container merely made from a greenbar image inherits only the image's labels.
    return labels.get("greenbar.deployment", "").startswith(DEPLOYMENT)
