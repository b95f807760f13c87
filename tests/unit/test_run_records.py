"""greenbar's record of a job (app/jobs/records.py JobStore) over real Redis, with no worker:
enqueued, started once, finished or failed, whose it is, and an end that outlasts a moment
without Redis (the retry sleeps on a ManualClock; the outage is a real server stopped)."""

import subprocess
from collections.abc import Iterator
from shutil import which

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.errors import StoreUnavailable, UnknownJob
from app.externals.clock import ManualClock
from app.jobs.records import (
    COLOURS,
    END_RETRY_PAUSE_SECONDS,
    END_RETRY_SECONDS,
    RUNS,
    JobStore,
    JobView,
    State,
)
from app.jobs.requests import RunRequest
from app.outcomes import Outcome
from tests.helpers import a_result, free_port, wait_until

REQUEST = RunRequest("greenbar/busybox-sh", {"cyber-dojo.sh": "echo hi"}, max_seconds=5)
GREEN = a_result(Outcome.GREEN)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def runs(store, clock) -> JobStore[RunRequest]:
    return JobStore(store, 60, RUNS, now=clock, sleep=clock.sleep)


def test_an_enqueued_run_is_queued_with_its_image_and_keeps_its_request(runs):
    runs.enqueue("run-1", REQUEST)
    assert runs.get("run-1") == JobView("run-1", State.QUEUED, REQUEST.image)
    assert runs.request("run-1") == REQUEST
    assert not runs.ended("run-1")


def test_a_started_run_is_running_on_its_node_by_its_worker(runs):
    runs.enqueue("run-1", REQUEST)
    assert runs.start("run-1", "node-a", "w1@a")
    view = runs.get("run-1")
    assert (view.state, view.node, view.worker) == (State.RUNNING, "node-a", "w1@a")


def test_a_run_is_never_started_twice(runs):
    runs.enqueue("run-1", REQUEST)
    assert runs.start("run-1", "node-a", "w1@a")
    assert not runs.start("run-1", "node-b", "w2@b")
    assert runs.get("run-1").worker == "w1@a"


def test_a_finished_run_is_done_with_its_result_and_its_request_is_dropped(runs):
    runs.enqueue("run-1", REQUEST)
    runs.start("run-1", "node-a", "w1@a")
    runs.finish("run-1", GREEN)
    view = runs.get("run-1")
    assert view.state == State.DONE
    assert view.result == GREEN.to_wire()
    assert runs.request("run-1") is None
    assert runs.ended("run-1")
    assert runs.wait("run-1", 5) == view, "a waiter on an ended run returns at once"


def test_a_failed_run_is_in_the_error_state_with_its_reason(runs):
    runs.enqueue("run-1", REQUEST)
    runs.fail("run-1", "the worker died")
    view = runs.get("run-1")
    assert (view.state, view.error) == (State.ERROR, "the worker died")
    assert view.result is None
    assert runs.ended("run-1")


def test_a_run_belongs_to_the_client_that_enqueued_it_or_to_anyone(runs):
    runs.enqueue("mine", REQUEST, owner="client-a")
    runs.enqueue("open", REQUEST)
    assert runs.owner("mine") == "client-a"
    assert runs.owner("open") == ""
    assert runs.owner("never") is None


def test_a_run_never_enqueued_is_unknown(runs):
    with pytest.raises(UnknownJob):
        runs.get("never")
    assert not runs.ended("never")


def test_runs_and_colours_are_records_of_their_own(store):
    JobStore(store, 60, RUNS).enqueue("same-id", REQUEST)
    with pytest.raises(UnknownJob):
        JobStore(store, 60, COLOURS).get("same-id")


class Restartable:
    """A private redis-server that can be stopped and started again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        server = which("redis-server")
        assert server is not None, "redis-server is not installed"
        command = [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        self.process = subprocess.Popen([*command, "--appendonly", "no"], stdout=subprocess.DEVNULL)
        probe = redis.Redis(port=self.port)
        wait_until(lambda: _answers(probe), 10, "the restarted redis-server", every=0.01)
        probe.close()

    def stop(self) -> None:
        """Kills the server, as a crash would."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


@pytest.fixture
def server() -> Iterator[Restartable]:
    started = Restartable()
    started.start()
    yield started
    started.stop()


def unretried_client(port: int) -> redis.Redis:
    # redis-py's own retries would only slow the test down: JobStore's are the ones tested.
    return redis.Redis(port=port, retry=Retry(NoBackoff(), 0), socket_connect_timeout=1)


def test_an_end_written_while_redis_restarts_is_retried_until_it_is_back(server, clock):
    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if len(clock.slept) == 4:
            server.start()  # without persistence: it comes back empty

    runs = JobStore(unretried_client(server.port), 60, RUNS, now=clock, sleep=sleep)
    runs.enqueue("run-1", REQUEST)
    runs.start("run-1", "node-a", "w1@a")
    server.stop()
    runs.finish("run-1", a_result(Outcome.RED))
    assert clock.slept == [END_RETRY_PAUSE_SECONDS] * 4
    view = runs.get("run-1")  # the emptied Redis holds only the end, which is what matters
    assert (view.state, view.result) == (State.DONE, a_result(Outcome.RED).to_wire())


def test_an_end_is_given_up_with_a_store_error_once_redis_stays_away_for_the_retry_time(
    server, clock
):
    runs = JobStore(unretried_client(server.port), 60, RUNS, now=clock, sleep=clock.sleep)
    runs.enqueue("run-1", REQUEST)
    server.stop()
    with pytest.raises(StoreUnavailable):
        runs.fail("run-1", "the sandbox ended without a result")
    assert sum(clock.slept) == END_RETRY_SECONDS
