"""Warm containers: one-shot, refilled in the background, drained when idle, bypassed by kata
runs, and as isolated as a fresh container."""

import time
import uuid
from typing import Any

import docker
import pytest
import redis

from app.config import BUNDLED_IMAGES
from app.sandbox.pool import WarmPool
from tests.cluster import celery_worker, stop_worker
from tests.helpers import remove_kata, run, wait_until

BUSYBOX = "greenbar/busybox-sh"


def pool_containers(worker: str) -> list[dict[str, Any]]:
    """Summaries (no inspect, which races with removal) of a worker's waiting containers."""
    filters = {"label": f"greenbar.worker={worker}", "name": "greenbar-pool-"}
    return list(docker.from_env().api.containers(all=True, filters=filters))


def test_runs_take_warm_containers_and_the_pool_refills(api: Any, worker: Any) -> None:
    run(api, {"cyber-dojo.sh": "echo warming"})  # the first run on an image may be fresh
    time.sleep(2)
    result = run(api, {"cyber-dojo.sh": "echo hi"})
    assert result["warm"] is True
    assert result["stdout"]["content"] == "hi\n"


def test_a_warm_container_is_used_once_then_removed(api: Any, settings: Any) -> None:
    run(api, {"cyber-dojo.sh": "echo warming"})
    time.sleep(2)
    result = run(api, {"cyber-dojo.sh": "hostname"})
    assert result["warm"] is True
    client = docker.from_env()

    def gone() -> bool:
        found = client.api.containers(all=True, filters={"label": "greenbar.kind=pool"})
        return all(c["Id"][:12] != result["stdout"]["content"].strip() for c in found)

    wait_until(gone, 10, "the used warm container to be removed")


def test_a_process_started_by_one_run_is_gone_for_the_next(api: Any) -> None:
    marker = uuid.uuid4().hex
    first = run(api, {"cyber-dojo.sh": f"setsid sh -c 'exec -a {marker} sleep 1000' & echo ok"})
    assert first["stdout"]["content"] == "ok\n"
    for _ in range(3):
        later = run(api, {"cyber-dojo.sh": "ps -o args"})
        assert later["warm"] is True
        assert marker not in later["stdout"]["content"]


def test_kata_runs_bypass_the_pool(api: Any, docker_client: Any, redis_url: str) -> None:
    kata = f"pool-{uuid.uuid4().hex[:10]}"
    try:
        assert run(api, {"cyber-dojo.sh": "true"}, kata=kata)["warm"] is False
    finally:
        remove_kata(docker_client, redis_url, kata)


@pytest.fixture
def idle_worker(redis_url: str) -> Any:
    env = {
        "GREENBAR_POOL_IDLE_SECONDS": "3",
        "GREENBAR_POOL_SIZE": "2",
        "GREENBAR_PULLS_ENABLED": "false",
    }
    with celery_worker("idle@pool", "pool-node", redis_url, extra_env=env) as process:
        yield process


@pytest.mark.slow
def test_a_pool_is_warmed_at_start_drained_when_idle_and_emptied_at_shutdown(
    idle_worker: Any, redis_url: str
) -> None:
    client = docker.from_env()
    bundled = {client.images.get(image).id for image in BUNDLED_IMAGES}  # the default allowlist

    def warmed() -> set[str]:
        return {c["ImageID"] for c in pool_containers("idle@pool")}

    wait_until(lambda: warmed() == bundled, 30, "every bundled image warmed at start")
    wait_until(lambda: not pool_containers("idle@pool"), 20, "the idle pool drained")
    digest = client.images.get(BUSYBOX).id
    WarmPool(redis.Redis.from_url(redis_url), "idle@pool").want(digest)  # as a run would
    wait_until(lambda: warmed() == {digest}, 20, "the wanted image warmed again")
    stop_worker(idle_worker)
    assert not pool_containers("idle@pool"), "a worker stopping removes its warm containers"
