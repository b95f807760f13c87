"""The worker side's composition root: every external a node needs, wired once per process."""

import time
from dataclasses import dataclass

import redis

from app.config import Settings
from app.engine import Engine
from app.execution import RunExecutor
from app.reaper import Reaper
from app.runner import Runner
from app.runs import RunStore
from app.store import connect
from app.workers import WorkerRegistry

HEARTBEAT_SECONDS = 5


@dataclass
class NodeContext:
    """What a worker process uses; built by `NodeContext.create`, or by hand in tests."""

    settings: Settings
    engine: Engine
    redis: redis.Redis
    store: RunStore
    runner: Runner
    executor: RunExecutor
    registry: WorkerRegistry
    reaper: Reaper

    @classmethod
    def create(cls, settings: Settings) -> "NodeContext":
        engine = Engine.from_env()
        client = connect(settings.redis_url)
        store = RunStore(client, settings.result_ttl_seconds, time.time)
        runner = Runner(engine, settings, time.monotonic, time.time)
        return cls(
            settings=settings,
            engine=engine,
            redis=client,
            store=store,
            runner=runner,
            executor=RunExecutor(store, runner, settings.node),
            registry=WorkerRegistry(client, 3 * HEARTBEAT_SECONDS, time.time),
            reaper=Reaper(engine, settings.longest_run_seconds, time.time),
        )
