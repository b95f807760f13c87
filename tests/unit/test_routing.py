"""Where a run goes (app/jobs/routing.py), decided from real heartbeats and kata records in
Redis, with no worker running: its kata's node, a worker scoped to its track, a generic worker,
or a refusal naming the track."""

import pytest

from app.cluster.workers import WorkerRegistry
from app.errors import ServiceUnavailable
from app.jobs.routing import Route, route_run
from app.katas.records import KataStore


@pytest.fixture
def workers(store) -> WorkerRegistry:
    return WorkerRegistry(store, ttl=15)


@pytest.fixture
def katas(store) -> KataStore:
    return KataStore(store, ttl=60)


def test_a_run_without_kata_or_track_goes_to_any_generic_worker(workers, katas):
    workers.beat("w1@a", "node-a", True)
    assert route_run(None, None, katas, workers.live()) == Route("generic")


def test_a_run_of_a_track_goes_to_a_worker_scoped_to_it(workers, katas):
    workers.beat("generic@a", "node-a", True)
    workers.beat("python@b", "node-b", True, tracks=["python", "pytest"])
    assert route_run(None, "python", katas, workers.live()) == Route("track", "python")


def test_a_run_of_a_track_no_worker_is_scoped_to_goes_to_a_generic_worker(workers, katas):
    workers.beat("generic@a", "node-a", True)
    workers.beat("python@b", "node-b", True, tracks=["python"])
    assert route_run(None, "ruby", katas, workers.live()) == Route("generic")


def test_a_run_of_a_track_with_neither_a_scoped_nor_a_generic_worker_is_refused_naming_it(
    workers, katas
):
    workers.beat("python@b", "node-b", True, tracks=["python"])
    with pytest.raises(ServiceUnavailable, match="track ruby"):
        route_run(None, "ruby", katas, workers.live())


def test_a_run_without_a_track_when_every_worker_is_scoped_is_refused(workers, katas):
    workers.beat("python@b", "node-b", True, tracks=["python"])
    with pytest.raises(ServiceUnavailable, match="no live generic worker"):
        route_run(None, None, katas, workers.live())


def test_with_no_live_worker_every_run_is_refused(workers, katas):
    with pytest.raises(ServiceUnavailable):
        route_run(None, None, katas, workers.live())


def test_a_kata_run_goes_to_the_node_holding_its_volume_before_any_track(workers, katas):
    workers.beat("python@a", "node-a", True, tracks=["python"])
    workers.beat("generic@b", "node-b", True)
    katas.use("kata-1", "node-b", ["cyber-dojo.sh"])
    assert route_run("kata-1", "python", katas, workers.live()) == Route("node", "node-b")


def test_a_kata_whose_node_is_gone_is_routed_as_a_run_without_kata(workers, katas):
    workers.beat("generic@a", "node-a", True)
    workers.beat("on-b@b", "node-b", True)
    katas.use("kata-1", "node-b", [])
    workers.forget("on-b@b")
    assert route_run("kata-1", None, katas, workers.live()) == Route("generic")


def test_a_kata_never_run_is_routed_by_its_track(workers, katas):
    workers.beat("python@a", "node-a", True, tracks=["python"])
    assert route_run("new-kata", "python", katas, workers.live()) == Route("track", "python")
