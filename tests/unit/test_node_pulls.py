"""A pull job on a node (app/images/node_pulls.py): one pull per image and node at a time, and
the states it records, over real Redis (pull records, locks, metrics) with no engine.

The puller is a stand-in that records what it is asked and answers as a pull would; waiting
for another pull sleeps on a ManualClock, so no test waits for real.
"""

from collections.abc import Callable

import pytest

from app.cluster.metrics import Metrics, field
from app.errors import EngineUnavailable
from app.externals.clock import ManualClock
from app.images.node_pulls import WAIT_POLL_SECONDS, NodePulls
from app.images.pull_records import LOCK_SECONDS, PullStore
from app.images.puller import PullState

IMAGE = "greenbar/python-pytest"
DIGEST = "sha256:" + "e" * 64


def state(name: str, digest: str = "", error: str = "") -> PullState:
    return PullState(state=name, digest=digest, progress={}, error=error, changed=False)


class Puller:
    """Stands in for ImagePuller: reports `pulling`, then brings DIGEST (or fails)."""

    def __init__(self, pulls: PullStore, node: str) -> None:
        self.pulled: list[str] = []
        self.locked_while_pulling: list[bool] = []
        self.failure: Exception | None = None
        self._pulls = pulls
        self._node = node

    def pull(self, image: str, report: Callable[[PullState], None]) -> PullState:
        self.pulled.append(image)
        self.locked_while_pulling.append(self._pulls.is_locked(self._node, image))
        report(state("pulling"))
        if self.failure is not None:
            raise self.failure
        return state("pulled", DIGEST)

    def current(self, image: str) -> PullState:
        return state("pulled", "sha256:" + "c" * 64)


@pytest.fixture
def pulls(store) -> PullStore:
    return PullStore(store, ttl=60)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def puller(pulls) -> Puller:
    return Puller(pulls, "node-a")


@pytest.fixture
def metrics(store) -> Metrics:
    return Metrics(store)


@pytest.fixture
def node_pulls(puller, pulls, metrics, clock) -> NodePulls:
    return NodePulls(puller, pulls, "node-a", metrics, sleep=clock.sleep)  # type: ignore[arg-type]


def test_a_pull_holds_the_nodes_lock_for_the_image_while_it_pulls_and_frees_it(
    node_pulls, puller, pulls
):
    assert node_pulls.pull(IMAGE) == state("pulled", DIGEST)
    assert puller.pulled == [IMAGE]
    assert puller.locked_while_pulling == [True]
    assert not pulls.is_locked("node-a", IMAGE)


def test_a_pull_records_its_states_under_its_id_and_counts_how_it_ended(node_pulls, pulls, metrics):
    pulls.create("pull-1", IMAGE, ["node-a", "node-b"])
    node_pulls.pull(IMAGE, "pull-1")
    nodes = pulls.get("pull-1")["nodes"]
    assert nodes["node-a"] == {"state": "pulled", "digest": DIGEST, "progress": {}, "error": ""}
    assert nodes["node-b"]["state"] == "pulling", "another node's state is its own"
    assert metrics.read()[field("pulls_total", state="pulled")] == 1


def test_a_pull_of_an_image_this_node_is_pulling_waits_for_it_and_reports_what_it_brought(
    node_pulls, puller, pulls, store, clock
):
    other = PullStore(store, ttl=60)  # another process of this node
    assert other.lock("node-a", IMAGE)

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if len(clock.slept) == 3:
            other.unlock("node-a", IMAGE)

    waiting = NodePulls(puller, pulls, "node-a", Metrics(store), sleep=sleep)  # type: ignore[arg-type]
    pulls.create("pull-2", IMAGE, ["node-a"])
    assert waiting.pull(IMAGE, "pull-2") == puller.current(IMAGE)
    assert puller.pulled == [], "a second pull of the same image on the same node"
    assert clock.slept == [WAIT_POLL_SECONDS] * 3
    assert pulls.get("pull-2")["nodes"]["node-a"]["digest"] == puller.current(IMAGE)["digest"]


def test_a_pull_that_never_frees_its_lock_is_waited_for_at_most_the_locks_life(
    node_pulls, puller, store, clock
):
    assert PullStore(store, ttl=60).lock("node-a", IMAGE)
    assert node_pulls.pull(IMAGE) == puller.current(IMAGE)
    assert sum(clock.slept) == LOCK_SECONDS
    assert puller.pulled == []


def test_the_same_image_on_another_node_or_another_image_here_is_pulled_at_once(
    node_pulls, puller, store, clock
):
    assert PullStore(store, ttl=60).lock("node-b", IMAGE)
    assert PullStore(store, ttl=60).lock("node-a", "greenbar/busybox-sh")
    node_pulls.pull(IMAGE)
    assert puller.pulled == [IMAGE]
    assert clock.slept == []


def test_a_pull_that_fails_with_the_engine_frees_the_lock(node_pulls, puller, pulls):
    puller.failure = EngineUnavailable("docker engine failed to pull")
    with pytest.raises(EngineUnavailable):
        node_pulls.pull(IMAGE)
    assert not pulls.is_locked("node-a", IMAGE)
    puller.failure = None
    assert node_pulls.pull(IMAGE)["state"] == "pulled"
