"""The cluster test infrastructure works: a local registry, a second engine, workers on both."""

import contextlib
import io
import os
import time
import uuid
from collections.abc import Iterator

import docker
import pytest
import redis

from app.cluster.workers import WorkerRegistry
from tests.cluster import (
    celery_worker,
    forget_registry,
    local_registry,
    pull_on,
    push_image,
    second_engine,
    stop_worker,
    worker_log,
)

pytestmark = pytest.mark.slow  # a second engine and a registry, started per module

BUSYBOX = "greenbar/busybox-sh"
REBUILT = "greenbar-test/cluster:latest"
LABELS = {"greenbar.test": "cluster"}
HEARTBEAT_GONE_SECONDS = 20


@pytest.fixture(scope="module")
def registry(docker_client: docker.DockerClient) -> Iterator[str]:
    with local_registry() as address:
        try:
            yield address
        finally:
            forget_registry(docker_client, address)


@pytest.fixture(scope="module")
def engine_b() -> Iterator[str]:
    with second_engine() as base_url:
        yield base_url


@pytest.fixture(scope="module")
def client_b(engine_b: str) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=engine_b, timeout=60)
    yield client
    client.close()


@pytest.fixture(scope="module")
def busybox_on_b(
    docker_client: docker.DockerClient, images: None, registry: str, engine_b: str
) -> Iterator[str]:
    """The bundled busybox image, pushed to the registry and pulled on the second engine."""
    reference = push_image(docker_client, BUSYBOX, registry, "greenbar-test/busybox-sh")
    try:
        pull_on(engine_b, reference)
        yield reference
    finally:
        docker_client.images.remove(reference)  # only the registry tag: BUSYBOX stays


def _rebuild(client: docker.DockerClient) -> docker.models.images.Image:
    """Builds a new image from BUSYBOX with a unique label: same tag, new content."""
    dockerfile = f"FROM {BUSYBOX}\nLABEL greenbar.test={uuid.uuid4().hex}\n"
    image, _ = client.images.build(
        fileobj=io.BytesIO(dockerfile.encode()), tag=REBUILT, rm=True, forcerm=True
    )
    return image


def _remove_quietly(client: docker.DockerClient, image: str) -> None:
    """Removes an image id with all its tags, or a single tag; gone already is fine."""
    force = image.startswith("sha256:")
    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.remove(image, force=force)


def _live(redis_url: str) -> dict[str, dict[str, object]]:
    """Live heartbeats by worker name, in their wire form."""
    client = redis.Redis.from_url(redis_url)
    try:
        return {beat.worker: beat.to_wire() for beat in WorkerRegistry(client, 15).live()}
    finally:
        client.close()


def _environ(pid: int) -> dict[str, str]:
    """The environment a process was started with."""
    with open(f"/proc/{pid}/environ", "rb") as f:
        pairs = [item.decode().partition("=") for item in f.read().split(b"\0") if item]
    return {key: value for key, _, value in pairs}


def test_the_registry_is_on_loopback(registry: str) -> None:
    assert registry.startswith("127.0.0.1:")


def test_a_pulled_image_has_the_same_id_on_both_engines(
    docker_client: docker.DockerClient, client_b: docker.DockerClient, busybox_on_b: str
) -> None:
    assert client_b.images.get(busybox_on_b).id == docker_client.images.get(BUSYBOX).id


def test_the_second_engine_runs_containers_without_a_network(
    client_b: docker.DockerClient, busybox_on_b: str
) -> None:
    container = client_b.containers.run(
        busybox_on_b, ["echo", "hi"], network_mode="none", labels=LABELS, detach=True
    )
    try:
        assert container.wait(timeout=30)["StatusCode"] == 0
        assert container.logs() == b"hi\n"
    finally:
        container.remove(force=True)


def test_the_engines_do_not_see_each_others_containers(
    docker_client: docker.DockerClient, client_b: docker.DockerClient, busybox_on_b: str
) -> None:
    with contextlib.ExitStack() as cleanup:
        on_a = docker_client.containers.create(BUSYBOX, ["true"], labels=LABELS)
        cleanup.callback(on_a.remove, force=True)
        on_b = client_b.containers.create(busybox_on_b, ["true"], network_mode="none")
        cleanup.callback(on_b.remove, force=True)
        # Summaries, not containers.list(): that inspects each one, racing with removals.
        ids_a = {c["Id"] for c in docker_client.api.containers(all=True)}
        ids_b = {c["Id"] for c in client_b.api.containers(all=True)}
        assert on_a.id in ids_a and on_a.id not in ids_b
        assert on_b.id in ids_b and on_b.id not in ids_a


def test_a_new_build_under_the_same_tag_pulls_as_a_new_image(
    docker_client: docker.DockerClient, images: None, registry: str, engine_b: str
) -> None:
    repository = REBUILT.split(":")[0]
    with contextlib.ExitStack() as cleanup:
        reference = push_image(docker_client, BUSYBOX, registry, repository)
        cleanup.callback(_remove_quietly, docker_client, reference)
        first = pull_on(engine_b, reference)
        rebuilt = _rebuild(docker_client)
        cleanup.callback(_remove_quietly, docker_client, rebuilt.id)
        push_image(docker_client, REBUILT, registry, repository)
        second = pull_on(engine_b, reference)
    assert first == docker_client.images.get(BUSYBOX).id
    assert second == rebuilt.id != first


def test_workers_on_two_engines_beat_with_their_nodes_until_stopped(
    redis_url: str, images: None, engine_b: str
) -> None:
    name_a, name_b = f"cluster-a-{os.getpid()}@node-a", f"cluster-b-{os.getpid()}@node-b"
    with (
        celery_worker(name_a, "node-a", redis_url) as worker_a,
        celery_worker(name_b, "node-b", redis_url, docker_host=engine_b) as worker_b,
    ):
        live = _live(redis_url)
        assert (live[name_a]["node"], live[name_a]["docker"]) == ("node-a", True)
        assert (live[name_b]["node"], live[name_b]["docker"]) == ("node-b", True)
        assert _environ(worker_b.pid)["DOCKER_HOST"] == engine_b
        deadline = time.monotonic() + 10  # the heartbeat may come before the "ready." line
        while "ready" not in worker_log(worker_b) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "ready" in worker_log(worker_b)

        stop_worker(worker_b)
        deadline = time.monotonic() + HEARTBEAT_GONE_SECONDS
        while name_b in _live(redis_url) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert name_b not in _live(redis_url), worker_log(worker_b)
        assert name_a in _live(redis_url)
        assert worker_a.poll() is None
