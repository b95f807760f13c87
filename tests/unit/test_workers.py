"""Which workers are alive (app/cluster/workers.py): a heartbeat in real Redis, stamped by the
registry's clock, that disappears once its TTL passes without another beat. Expiry is Redis's
own, brought forward with PEXPIRE rather than waited for."""

import pytest

from app.cluster.workers import PREFIX, Heartbeat, WorkerRegistry
from app.externals.clock import ManualClock
from app.images.node_images import HeldImage
from tests.helpers import wait_until

TTL_SECONDS = 15
HELD = HeldImage(image="greenbar/busybox-sh", digest="sha256:" + "b" * 64, pulled_at="2026-12-01")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def registry(store, clock) -> WorkerRegistry:
    return WorkerRegistry(store, TTL_SECONDS, now=clock)


def outlived(store, worker: str) -> None:
    """Its heartbeat's TTL passes now, as it would with no beat for TTL_SECONDS."""
    assert store.pexpire(PREFIX + worker, 1), f"{worker} has no heartbeat"
    key = PREFIX + worker
    wait_until(lambda: not store.exists(key), 5, f"{worker}'s heartbeat to expire", every=0.01)


def test_a_heartbeat_says_who_where_what_and_when_on_the_registrys_clock(registry, clock):
    registry.beat("w1@a", "node-a", True, images=[HELD], tracks=["python"])
    assert registry.live() == [Heartbeat("w1@a", "node-a", True, [HELD], ("python",), clock.now)]


def test_a_heartbeat_lives_for_the_registrys_ttl(registry, store):
    registry.beat("w1@a", "node-a", True)
    assert 0 < store.ttl(PREFIX + "w1@a") <= TTL_SECONDS


def test_a_heartbeat_older_than_its_ttl_disappears_and_the_others_stay(registry, store):
    registry.beat("w1@a", "node-a", True)
    registry.beat("w2@b", "node-b", True)
    outlived(store, "w1@a")
    assert [b.worker for b in registry.live()] == ["w2@b"]
    assert list(registry.nodes()) == ["node-b"]


def test_a_new_beat_restarts_the_ttl_and_its_time(registry, store, clock):
    registry.beat("w1@a", "node-a", True)
    store.pexpire(PREFIX + "w1@a", 2000)
    clock.advance(10)
    registry.beat("w1@a", "node-a", True)
    assert store.ttl(PREFIX + "w1@a") > 2
    assert registry.live()[0].at == clock.now


def test_a_forgotten_worker_is_gone_at_once(registry):
    registry.beat("w1@a", "node-a", True)
    registry.forget("w1@a")
    assert registry.live() == []


def test_nodes_gather_their_workers_and_docker_answers_if_any_worker_says_so(registry):
    registry.beat("w1@a", "node-a", False)
    registry.beat("w2@a", "node-a", True, images=[HELD])
    registry.beat("w3@b", "node-b", False)
    nodes = registry.nodes()
    assert sorted(nodes["node-a"]["workers"]) == ["w1@a", "w2@a"]
    assert nodes["node-a"]["docker"] is True
    assert nodes["node-a"]["images"] == [HELD]
    assert nodes["node-b"] == {"workers": ["w3@b"], "docker": False, "images": []}
