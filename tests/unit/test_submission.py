"""Submitting and reading jobs (app/jobs/submission.py) from plain Python: a real Redis, the
broker's `send` recorded instead of sent, no Flask, no Celery, no Docker."""

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from app.config import Settings
from app.errors import Busy, KataBusy, ServiceUnavailable, UnknownJob
from app.jobs.queues import COLOUR_TASK, RUN_QUEUE, RUN_TASK, track_queue
from app.jobs.records import State
from app.jobs.requests import ColourRequest, RunRequest
from app.jobs.submission import Jobs
from app.outcomes import Outcome
from app.wiring import Externals, Stores
from tests.helpers import a_result

UNIT_DB = 7  # the suite's workers use database 0 of the same server: never touched here
IMAGE = "greenbar/busybox-sh"
Sent = list[tuple[str, list[Any], str | None]]


@pytest.fixture
def client(redis_url: str) -> Iterator["redis.Redis[bytes]"]:
    # A database of its own: the URL's own number would win over a `db` argument.
    connection = redis.Redis.from_url(f"{redis_url.rsplit('/', 1)[0]}/{UNIT_DB}")
    assert connection.connection_pool.connection_kwargs["db"] == UNIT_DB
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env({}, deployment="unit", node="unit-node", queue_max_waiting=2)


@pytest.fixture
def stores(client: "redis.Redis[bytes]", settings: Settings) -> Stores:
    return Stores.over(Externals(settings, client))


@pytest.fixture
def sent() -> Sent:
    return []


@pytest.fixture
def jobs(stores: Stores, settings: Settings, sent: Sent) -> Jobs:
    return Jobs(stores, settings, lambda task, args, queue: sent.append((task, args, queue)))


def _generic_worker(stores: Stores, name: str = "w1@unit") -> None:
    stores.registry.beat(name, "unit-node", True)


def test_a_run_is_recorded_queued_for_its_client_then_sent_by_id_alone(
    jobs: Jobs, stores: Stores, sent: Sent
) -> None:
    _generic_worker(stores)
    queued = jobs.submit_run(RunRequest(IMAGE, {"cyber-dojo.sh": "true"}), client="alice")
    assert queued.state == State.QUEUED and queued.image == IMAGE
    assert sent == [(RUN_TASK, [queued.id], RUN_QUEUE)]
    assert stores.runs.owner(queued.id) == "alice"
    assert stores.runs.request(queued.id) == RunRequest(IMAGE, {"cyber-dojo.sh": "true"})


def test_a_run_of_a_track_goes_to_the_workers_scoped_to_it(
    jobs: Jobs, stores: Stores, sent: Sent
) -> None:
    stores.registry.beat("py@unit", "unit-node", True, tracks=["python"])
    queued = jobs.submit_run(RunRequest(IMAGE, track="python"), client="alice")
    assert sent == [(RUN_TASK, [queued.id], track_queue("python"))]
    with pytest.raises(ServiceUnavailable, match="track ruby"):
        jobs.submit_run(RunRequest(IMAGE, track="ruby"), client="alice")


def test_with_no_live_worker_a_run_is_refused_and_nothing_is_recorded_or_sent(
    jobs: Jobs, client: "redis.Redis[bytes]", sent: Sent
) -> None:
    with pytest.raises(ServiceUnavailable):
        jobs.submit_run(RunRequest(IMAGE), client="alice")
    assert sent == [] and not list(client.scan_iter("greenbar:run:*"))


def test_a_broker_that_refuses_leaves_the_run_in_error_not_queued(
    stores: Stores, settings: Settings, client: "redis.Redis[bytes]"
) -> None:
    def refuse(task: str, args: list[Any], queue: str | None) -> None:
        raise ConnectionError("broker down")

    _generic_worker(stores)
    with pytest.raises(ServiceUnavailable, match="broker down"):
        Jobs(stores, settings, refuse).submit_run(RunRequest(IMAGE), client="alice")
    [key] = [k for k in client.scan_iter("greenbar:run:*") if k.count(b":") == 2]
    view = stores.runs.get(key.decode().rsplit(":", 1)[1])
    assert view.state == State.ERROR and "could not be queued: broker down" in (view.error or "")


def test_a_full_queue_refuses_with_a_retry_after(
    jobs: Jobs, stores: Stores, client: "redis.Redis[bytes]"
) -> None:
    _generic_worker(stores)
    client.rpush(RUN_QUEUE, b"a", b"b")  # the broker's list, filled as Celery fills it
    with pytest.raises(Busy, match=f"2 runs are waiting in {RUN_QUEUE}") as refused:
        jobs.submit_run(RunRequest(IMAGE), client="alice")
    assert refused.value.retry_after > 0


def test_a_kata_takes_one_run_at_a_time_and_is_each_clients_own(
    jobs: Jobs, stores: Stores, sent: Sent
) -> None:
    _generic_worker(stores)
    first = jobs.submit_run(RunRequest(IMAGE, kata="fizz"), client="alice")
    with pytest.raises(KataBusy, match=first.id):
        jobs.submit_run(RunRequest(IMAGE, kata="fizz"), client="alice")
    other = jobs.submit_run(RunRequest(IMAGE, kata="fizz"), client="bob")  # bob's own fizz
    alices, bobs = stores.runs.request(first.id), stores.runs.request(other.id)
    assert alices is not None and bobs is not None
    assert alices.kata_ref and bobs.kata_ref and alices.kata_ref != bobs.kata_ref
    assert len(sent) == 2


def test_only_its_client_or_an_admin_reads_a_job(jobs: Jobs, stores: Stores) -> None:
    _generic_worker(stores)
    queued = jobs.submit_run(RunRequest(IMAGE), client="alice")
    assert jobs.read(stores.runs, queued.id, "alice", admin=False).id == queued.id
    assert jobs.read(stores.runs, queued.id, "mallory", admin=True).id == queued.id
    with pytest.raises(UnknownJob):
        jobs.read(stores.runs, queued.id, "mallory", admin=False)
    with pytest.raises(UnknownJob):
        jobs.read(stores.runs, "not-an-id", "alice", admin=True)


def test_a_finished_run_reads_back_with_its_result(jobs: Jobs, stores: Stores) -> None:
    _generic_worker(stores)
    queued = jobs.submit_run(RunRequest(IMAGE), client="alice")
    assert stores.runs.start(queued.id, "unit-node", "w1@unit")
    stores.runs.finish(queued.id, a_result(Outcome.GREEN))
    view = jobs.read(stores.runs, queued.id, "alice", admin=False, wait=5)
    assert view.state == State.DONE and view.result is not None
    assert view.result["outcome"] == "green" and view.to_wire()["result"] == view.result


def test_a_job_running_on_a_dead_worker_ends_in_error_and_frees_its_kata(
    jobs: Jobs, stores: Stores
) -> None:
    _generic_worker(stores)
    queued = jobs.submit_run(RunRequest(IMAGE, kata="fizz"), client="alice")
    assert stores.runs.start(queued.id, "unit-node", "gone@unit")  # never beat
    view = jobs.read(stores.runs, queued.id, "alice", admin=False)
    assert view.state == State.ERROR
    assert "the worker gone@unit stopped" in (view.error or "")
    again = jobs.submit_run(RunRequest(IMAGE, kata="fizz"), client="alice")  # kata free
    assert again.state == State.QUEUED


def test_a_running_job_on_a_live_worker_is_left_running(jobs: Jobs, stores: Stores) -> None:
    _generic_worker(stores)
    queued = jobs.submit_run(RunRequest(IMAGE), client="alice")
    assert stores.runs.start(queued.id, "unit-node", "w1@unit")
    assert jobs.read(stores.runs, queued.id, "alice", admin=False).state == State.RUNNING


def test_a_colour_needs_a_live_worker_and_goes_to_the_shared_queue(
    jobs: Jobs, stores: Stores, sent: Sent
) -> None:
    asked = ColourRequest(IMAGE, "out", "err", 1)
    with pytest.raises(ServiceUnavailable, match="no live worker"):
        jobs.submit_colour(asked, client="alice")
    _generic_worker(stores)
    queued = jobs.submit_colour(asked, client="alice")
    assert sent == [(COLOUR_TASK, [queued.id], None)]
    assert stores.colours.request(queued.id) == asked
