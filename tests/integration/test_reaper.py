"""The reaper against the real Docker engine: old labelled run containers go, young ones stay;
an evaluator, and its socket volume, goes with its worker."""

import contextlib
import secrets
import time
from collections.abc import Iterator

import docker
import pytest

from app.cluster.reaper import Reaper
from app.externals.engine import Engine, LabelledContainer

LONGEST_RUN_SECONDS = 50


class _ThisTestsContainers(Engine):
    """The real engine, seeing only the containers this module created.

    Other test sessions and workers may share the engine; a reaper told that it is 1000 s
    later would otherwise remove their runs while they are in flight.
    """

    def __init__(self, tag: str) -> None:
        super().__init__(docker.from_env(timeout=60).api)
        self._tag = tag

    def labelled(self, label: str) -> list[LabelledContainer]:
        return [c for c in super().labelled(label) if c.labels.get("greenbar.test") == self._tag]

    def volumes(self, labels: list[str]) -> list[tuple[str, dict[str, str]]]:
        return super().volumes([*labels, f"greenbar.test={self._tag}"])


@pytest.fixture
def tag() -> str:
    return f"reaper-{secrets.token_hex(4)}"


@pytest.fixture
def created(docker_client: docker.DockerClient, tag: str) -> Iterator[dict[str, str]]:
    """Creates (never starts) containers by kind; removes any left at the end."""
    names: dict[str, str] = {}
    kinds = {"run": {"greenbar.kind": "run"}, "unkinded": {}}
    for kind, labels in kinds.items():
        container = docker_client.containers.create(
            "greenbar/busybox-sh",
            ["sh"],
            name=f"greenbar-test-{tag}-{kind}",
            labels={**labels, "greenbar.test": tag},
        )
        names[kind] = container.name
    yield names
    for name in names.values():
        with contextlib.suppress(docker.errors.NotFound):  # reaped by the test
            docker_client.containers.get(name).remove(force=True)


def _exists(docker_client: docker.DockerClient, name: str) -> bool:
    try:
        docker_client.containers.get(name)
    except docker.errors.NotFound:
        return False
    return True


def test_a_run_container_older_than_the_longest_run_is_removed(docker_client, tag, created):
    later = Reaper(_ThisTestsContainers(tag), LONGEST_RUN_SECONDS, now=lambda: time.time() + 1000)
    assert later.reap() == [created["run"]]
    assert not _exists(docker_client, created["run"])


def test_a_run_container_younger_than_the_longest_run_is_kept(docker_client, tag, created):
    now = Reaper(_ThisTestsContainers(tag), LONGEST_RUN_SECONDS)
    assert now.reap() == []
    assert _exists(docker_client, created["run"])


def test_a_container_without_a_greenbar_kind_is_never_reaped(docker_client, tag, created):
    later = Reaper(_ThisTestsContainers(tag), LONGEST_RUN_SECONDS, now=lambda: time.time() + 1000)
    assert created["unkinded"] not in later.reap()
    assert _exists(docker_client, created["unkinded"])


def test_reaping_a_container_already_gone_is_fine(docker_client, tag, created):
    engine = _ThisTestsContainers(tag)
    docker_client.containers.get(created["run"]).remove(force=True)
    engine.remove(created["run"])
    assert not _exists(docker_client, created["run"])


def test_an_evaluator_goes_with_its_worker_and_not_before_however_old(
    docker_client: docker.DockerClient, tag: str
) -> None:
    names = {}
    for worker in ("alive@node", "gone@node"):
        labels = {"greenbar.kind": "evaluator", "greenbar.worker": worker, "greenbar.test": tag}
        container = docker_client.containers.create(
            "greenbar/busybox-sh", ["sh"], name=f"greenbar-test-{tag}-{worker[:4]}", labels=labels
        )
        names[worker] = container.name
    try:
        reaper = Reaper(
            _ThisTestsContainers(tag),
            LONGEST_RUN_SECONDS,
            now=lambda: time.time() + 1000,
            alive=lambda worker: worker == "alive@node",
        )
        assert reaper.reap() == [names["gone@node"]]
        assert _exists(docker_client, names["alive@node"])
    finally:
        for name in names.values():
            with contextlib.suppress(docker.errors.NotFound):
                docker_client.containers.get(name).remove(force=True)


def test_an_evaluators_stray_volume_goes_with_its_worker_and_not_while_in_use(
    docker_client: docker.DockerClient, tag: str
) -> None:
    # As left when the engine failed while removing an evaluator: the volume without its container.
    names = {}
    for worker in ("alive@node", "gone@node", "busy@node"):
        labels = {"greenbar.kind": "evaluator", "greenbar.worker": worker, "greenbar.test": tag}
        names[worker] = docker_client.api.create_volume(labels=labels)["Name"]
    user = docker_client.containers.create(
        "greenbar/busybox-sh", ["sh"], volumes={names["busy@node"]: {"bind": "/s", "mode": "rw"}}
    )
    try:
        reaper = Reaper(
            _ThisTestsContainers(tag),
            LONGEST_RUN_SECONDS,
            alive=lambda worker: worker == "alive@node",
        )
        assert reaper.reap_volumes() == [names["gone@node"]]
        user.remove()
        assert reaper.reap_volumes() == [names["busy@node"]]
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            user.remove()
        for name in names.values():
            with contextlib.suppress(docker.errors.NotFound):
                docker_client.api.remove_volume(name)
