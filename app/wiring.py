"""The worker side's composition root: every external a node needs, wired once per process."""

from collections.abc import Callable
from dataclasses import dataclass

from app.cluster.metrics import Metrics
from app.cluster.periodic import OncePerPeriod
from app.cluster.pruner import Pruner
from app.cluster.reaper import Reaper
from app.cluster.workers import WorkerRegistry
from app.colour.evaluator.one_shot import OneShotEvaluator
from app.colour.evaluator.resident import ResidentEvaluator
from app.colour.rag_cache import RagCache
from app.colour.traffic_light import TrafficLight
from app.config import Settings
from app.externals import clock
from app.externals.engine import Engine
from app.externals.store import Client, connect
from app.images.node_images import NodeImages
from app.images.node_pulls import NodePulls
from app.images.pull_records import PullStore
from app.images.puller import ImagePuller
from app.images.tracks import TrackStore
from app.jobs.executors import ColourExecutor, KataSupport, RunExecutor
from app.jobs.records import RunStore
from app.katas.records import KataStore
from app.katas.volumes import KataVolumes
from app.sandbox.pool import WarmPool
from app.sandbox.runner import Runner
from app.sandbox.supervisor import SupervisorVolume
from app.sandbox.uids import UidAllocator

HEARTBEAT_SECONDS = 5


@dataclass
class NodeContext:
    """What a worker process uses; built by `NodeContext.create`, or by hand in tests."""

    settings: Settings
    engine: Engine
    redis: Client
    runner: Runner
    rag_cache: RagCache
    evaluator: ResidentEvaluator  # this process's, closed when it shuts down
    runs: RunExecutor
    colours: ColourExecutor
    images: NodeImages
    pulls: PullStore
    node_pulls: NodePulls
    pruner: Pruner
    periodic: OncePerPeriod
    tracks: TrackStore
    registry: WorkerRegistry
    reaper: Reaper

    @classmethod
    def create(
        cls, settings: Settings, request_pull: Callable[[str], None], worker: str = ""
    ) -> "NodeContext":
        """Wires a node from `settings`; `request_pull(image)` asks this node to pull; runs
        take warm containers from `worker`'s pool (none without a worker name)."""
        engine, client = Engine.from_env(), connect(settings.redis_url)
        metrics = Metrics(client)
        pool = WarmPool(client, worker) if worker and settings.pool_size > 0 else None
        uids = UidAllocator(client, settings.node, settings.uid_base, settings.uid_count)
        supervisor = SupervisorVolume(engine, client, settings)
        runner = Runner(engine, settings, supervisor, uids, clock.monotonic, pool)
        registry = WorkerRegistry(client, 3 * HEARTBEAT_SECONDS, clock.wall)
        cache = RagCache(
            client,
            engine,
            settings.rag_cache_ttl_seconds,
            settings.rag_missing_ttl_seconds,
            clock.monotonic,
            metrics,
            settings.deployment,
        )
        evaluator = ResidentEvaluator(engine, settings, worker)
        one_shot = OneShotEvaluator(engine, settings)
        light = TrafficLight(cache, evaluator, one_shot, settings.rag_lambda_seconds)
        node, ttl = settings.node, settings.result_ttl_seconds
        katas = KataStore(client, int(settings.kata_unused_hours * 3600 * 2), clock.wall)
        volumes = KataVolumes(engine, settings, uids)
        claim = settings.visibility_timeout_seconds + settings.longest_run_seconds
        kata = KataSupport(katas, volumes, settings.kata_quota_mib * 1024, claim)
        images, pulls = NodeImages(engine), PullStore(client, ttl, clock.wall)
        store = RunStore(client, ttl, clock.wall, "run")
        colours = RunStore(client, ttl, clock.wall, "colour")
        reaper = Reaper(
            engine,
            settings.longest_run_seconds,
            clock.wall,
            lambda job_id: store.ended(job_id) or colours.ended(job_id),
            settings.deployment,
            lambda name: any(w["worker"] == name for w in registry.live()),
        )
        keep = settings.images if settings.prune_images else None
        puller = ImagePuller(images, cache, settings.pulls_enabled)
        return cls(
            settings=settings,
            engine=engine,
            redis=client,
            runner=runner,
            rag_cache=cache,
            evaluator=evaluator,
            runs=RunExecutor(
                *(store, node, metrics, runner, light, kata),
                request_pull if settings.pulls_enabled else None,
            ),
            colours=ColourExecutor(
                colours, node, metrics, engine, light, clock.monotonic, runner.dispose
            ),
            images=images,
            pulls=pulls,
            node_pulls=NodePulls(puller, pulls, node, metrics),
            pruner=Pruner(
                volumes, katas, reaper, images, settings.kata_unused_hours * 3600, keep, supervisor
            ),
            periodic=OncePerPeriod(client),
            tracks=TrackStore(client, clock.wall),
            registry=registry,
            reaper=reaper,
        )
