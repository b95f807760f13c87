"""Small helpers the tests share."""

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.outcomes import Outcome
from app.sandbox.result import RunResult
from app.sandbox.text import Text

ROOT = Path(__file__).resolve().parents[1]
# The suite's processes label their containers and volumes with this deployment, so two suites
# sharing one Docker engine (a developer's and a helper's) never judge each other's leftovers.
DEPLOYMENT = f"test-{os.getpid()}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A private redis-server on a free port, without persistence; yields its URL."""
    import redis

    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed: run scripts/test.sh, which installs it")
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    try:
        wait_until(answers, 10, "redis-server", every=0.01)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        process.terminate()
        process.wait(10)


def wait_until(predicate: Any, seconds: float, what: str, every: float = 0.1) -> None:
    """Asks `predicate` every `every` seconds until it holds; fails the test after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    pytest.fail(f"gave up after {seconds} s waiting for {what}")


def run(api: Any, files: dict[str, str], image: str = "greenbar/busybox-sh", **fields: Any) -> Any:
    """POSTs a run and waits for it; returns the finished run's view."""
    body = {"image": image, "files": files, **fields}
    response = api.post("/runs?wait=25", json=body)
    assert response.status_code == 200, response.get_json()
    view = response.get_json()
    assert view["state"] == "done", view
    return view["result"]


def kata_ref(redis_url: str, kata: str, client: str = "open") -> str:
    """The reference greenbar knows kata `kata` of `client` by (`open`: no token was sent)."""
    import redis

    from app.katas.records import KataStore

    return KataStore(redis.Redis.from_url(redis_url), 60).ref(client, kata)


def kata_volume(redis_url: str, kata: str, client: str = "open") -> str:
    """The name of the volume of kata `kata` of `client`."""
    from app.katas.records import volume_name

    return volume_name(kata_ref(redis_url, kata, client))


def remove_kata(client: Any, redis_url: str, kata: str, who: str = "open") -> None:
    """Removes a kata's holder container and volume (the run's own container may still be
    on its way out: retried briefly)."""
    import docker

    ref = kata_ref(redis_url, kata, who)
    with contextlib.suppress(docker.errors.NotFound):
        client.containers.get(f"greenbar-kata-holder-{ref}").remove(force=True)
    for _ in range(100):
        try:
            client.volumes.get(f"greenbar-kata-{ref}").remove(force=True)
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError:
            time.sleep(0.1)


def build_image(
    client: Any, dockerfile: str, files: dict[str, str] | None = None, tag: str | None = None
) -> Any:
    """Builds an image from a Dockerfile and files held in memory, offline (network none),
    leaving no intermediate container; returns the docker-py Image."""
    import io
    import tarfile

    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, text in {"Dockerfile": dockerfile, **(files or {})}.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    image, _ = client.images.build(
        fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True, network_mode="none"
    )
    return image


def a_result(outcome: Outcome) -> RunResult:
    """A run's result with `outcome` and nothing else to say: for tests that end a run by hand."""
    empty = Text(content="", truncated=False)
    return RunResult(outcome, empty, empty, 0, "", 0, "greenbar/busybox-sh", "", "test-node")
