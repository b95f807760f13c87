"""The Reaper, the WarmPool and its PoolKeeper as they are, over a MemoryEngine and a private
Redis: what is stale and what is kept, and a run taking a warm container, with no Docker."""

import dataclasses
import json

import pytest

from app.cluster.reaper import Reaper
from app.config import Settings
from app.externals.clock import ManualClock
from app.externals.memory_engine import MemoryEngine, Program
from app.sandbox.pool import PoolKeeper, WarmPool
from app.sandbox.runner import Runner
from app.sandbox.spec import container_name, pool_labels, run_labels, spec
from tests.contract.conftest import IMAGE, fixture_private_redis, fixture_run_path  # noqa: F401
from tests.contract.programs import supervisor_result
from tests.helpers import wait_until

FILES = {"cyber-dojo.sh": "echo warm"}
LONGEST = 330.0  # seconds a run's container may live


def _container(engine: MemoryEngine, name: str, labels: dict[str, str]) -> None:
    engine.create({"image": IMAGE, "name": name, "labels": labels})


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env({}, node="unit-node", deployment="unit")


def test_the_reaper_removes_a_run_s_container_older_than_the_longest_run_only(settings):
    clock = ManualClock()
    engine = MemoryEngine(now=clock)
    engine.add_image(IMAGE)
    _container(engine, container_name("old"), run_labels(settings, "old"))
    clock.advance(LONGEST + 1)
    _container(engine, container_name("young"), run_labels(settings, "young"))
    reaper = Reaper(engine, LONGEST, now=clock, deployment=settings.deployment)
    assert reaper.reap() == [container_name("old")]
    assert [c.name for c in engine.labelled("greenbar.kind")] == [container_name("young")]
    clock.advance(LONGEST)  # exactly the longest run: not older yet
    assert reaper.reap() == []
    clock.advance(1)
    assert reaper.reap() == [container_name("young")]


def test_the_reaper_removes_a_young_container_of_a_run_that_has_ended(settings):
    engine = MemoryEngine()
    engine.add_image(IMAGE)
    for run_id in ("ended", "running"):
        _container(engine, container_name(run_id), run_labels(settings, run_id))
    ended = {"ended"}.__contains__
    reaper = Reaper(engine, LONGEST, ended=ended, deployment=settings.deployment)
    assert reaper.reap() == [container_name("ended")]
    assert engine.state(container_name("running")) is not None


def test_the_reaper_keeps_a_live_worker_s_warm_container_and_another_deployment_s(settings):
    clock = ManualClock()
    engine = MemoryEngine(now=clock)
    engine.add_image(IMAGE)
    _container(engine, "greenbar-pool-live", pool_labels(settings, "live@node"))
    _container(engine, "greenbar-pool-dead", pool_labels(settings, "dead@node"))
    other = Settings.from_env({}, node="unit-node", deployment="other")
    _container(engine, container_name("theirs"), run_labels(other, "theirs"))
    clock.advance(LONGEST * 10)  # age alone would reap them all
    alive = {"live@node"}.__contains__
    reaper = Reaper(engine, LONGEST, now=clock, deployment="unit", alive=alive)
    assert reaper.reap() == ["greenbar-pool-dead"]
    names = sorted(c.name for c in engine.labelled("greenbar.kind"))
    assert names == ["greenbar-pool-live", container_name("theirs")]


def _keeper(run_path, pool):
    """The real PoolKeeper of `pool`, keeping IMAGE warm, checking every 10 ms."""
    parts = (run_path.engine, run_path.settings, lambda: [IMAGE], run_path.supervisor)
    return PoolKeeper(pool, *parts, run_path.uids, interval=0.01)


def test_the_keeper_fills_the_pool_a_run_takes_a_warm_container_and_stop_drains_it(run_path):
    digest = run_path.engine.add_image(
        IMAGE, program=Program(stdout=supervisor_result(0, stdout=b"warm\n"))
    )
    pool = WarmPool(run_path.client, "keeper@unit")
    keeper = _keeper(run_path, pool)
    keeper.start()
    try:
        full = run_path.settings.pool_size
        wait_until(lambda: pool.ready(digest) == full, 5, "the keeper to fill the pool")
        runner = run_path.runner(pool=pool)
        result = runner.run(IMAGE, FILES, 10, "warm")
    finally:
        keeper.stop()
    assert (result.outcome, result.warm) == (None, True)
    assert result.stdout["content"] == "warm\n"
    assert b"echo warm" in run_path.engine.received(container_name("warm"))
    left = [c.name for c in run_path.engine.labelled("greenbar.worker=keeper@unit")]
    assert left == [container_name("warm")]  # the pool is drained; the run's is the runner's
    runner.dispose()
    assert run_path.engine.labelled("greenbar.kind") == []


def test_a_warm_container_that_died_waiting_gives_way_to_a_fresh_one(run_path):
    digest = run_path.engine.add_image(
        IMAGE, program=Program(stdout=supervisor_result(0, stdout=b"fresh\n"))
    )
    pool = WarmPool(run_path.client, "died@unit")
    dead = "greenbar-pool-died"
    labels = pool_labels(run_path.settings, pool.worker)
    volume = run_path.supervisor.ensure(digest)
    run_path.engine.create(spec(run_path.settings, digest, dead, labels, 100001, volume))
    run_path.engine.play(dead, Program(reads_stdin=False, exit_code=137))  # an engine restart
    run_path.engine.start(dead)
    wait_until(lambda: run_path.engine.exit_code(dead) is not None, 5, "the warm one to die")
    pool.put(digest, dead)
    result = run_path.runner(ManualClock(), pool).run(IMAGE, FILES, 10, "after")
    assert (result.outcome, result.warm) == (None, False)
    assert result.stdout["content"] == "fresh\n"
    assert run_path.engine.state(dead) is None and pool.ready(digest) == 0


def test_a_profiled_images_run_gets_a_fresh_container_and_leaves_the_warm_ones(run_path):
    digest = run_path.engine.add_image(
        IMAGE, program=Program(stdout=supervisor_result(0, stdout=b"fresh\n"))
    )
    pool = WarmPool(run_path.client, "profiled@unit")
    keeper = _keeper(run_path, pool)
    profiles = json.dumps({IMAGE: {"memory_mib": 1024}})
    profiled = dataclasses.replace(run_path.settings, image_profiles=profiles)
    keeper.start()
    try:
        full = run_path.settings.pool_size
        wait_until(lambda: pool.ready(digest) == full, 5, "the keeper to fill the pool")
        runner = Runner(run_path.engine, profiled, run_path.supervisor, run_path.uids, pool=pool)
        result = runner.run(IMAGE, FILES, 10, "profiled")
        assert pool.ready(digest) == full, "no warm container was taken"
    finally:
        keeper.stop()
    assert (result.outcome, result.warm) == (None, False)
    assert result.stdout["content"] == "fresh\n"
    runner.dispose()
