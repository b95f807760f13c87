"""The worker side's composition root: every external a node needs, wired once per process."""

import time
from dataclasses import dataclass

import redis

from app.config import Settings
from app.engine import Engine
from app.execution import ColourExecutor, RunExecutor
from app.rag_cache import RagCache
from app.rag_sandbox import SandboxedLambda
from app.reaper import Reaper
from app.runner import Runner
from app.runs import RunStore
from app.store import connect
from app.traffic_light import TrafficLight
from app.workers import WorkerRegistry

HEARTBEAT_SECONDS = 5


@dataclass
class NodeContext:
    """What a worker process uses; built by `NodeContext.create`, or by hand in tests."""

    settings: Settings
    engine: Engine
    redis: redis.Redis
    runner: Runner
    rag_cache: RagCache
    light: TrafficLight
    runs: RunExecutor
    colours: ColourExecutor
    registry: WorkerRegistry
    reaper: Reaper

    @classmethod
    def create(cls, settings: Settings) -> "NodeContext":
        engine = Engine.from_env()
        client = connect(settings.redis_url)
        runner = Runner(engine, settings, time.monotonic, time.time)
        cache = RagCache(
            client,
            engine,
            settings.rag_cache_ttl_seconds,
            settings.rag_missing_ttl_seconds,
            time.monotonic,
        )
        limit = settings.rag_lambda_seconds
        light = TrafficLight(cache, SandboxedLambda(runner, limit), limit)
        node, ttl = settings.node, settings.result_ttl_seconds
        return cls(
            settings=settings,
            engine=engine,
            redis=client,
            runner=runner,
            rag_cache=cache,
            light=light,
            runs=RunExecutor(
                RunStore(client, ttl, time.time, "run"), node, runner, light, time.monotonic
            ),
            colours=ColourExecutor(
                RunStore(client, ttl, time.time, "colour"), node, engine, light, time.monotonic
            ),
            registry=WorkerRegistry(client, 3 * HEARTBEAT_SECONDS, time.time),
            reaper=Reaper(engine, settings.longest_run_seconds, time.time),
        )
