"""greenbar's composition roots: the externals each process builds once, the records every
process shares (`Stores`, built here and nowhere else), and what a worker adds on top
(`NodeContext`). The web process builds `Externals.for_web` and `Stores`; a worker process
`NodeContext.create`; the beat uses a worker's."""

import logging
from dataclasses import dataclass

from app.cluster.heartbeat import HeartbeatThread
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
from app.errors import GreenbarError
from app.externals.clock import REAL, Clock
from app.externals.end_notices import EndNotices
from app.externals.engine import Engine
from app.externals.store import Client, connect
from app.images.allowlist import Allowlist
from app.images.builds import Builder, BuildStore
from app.images.fan_out import PullFanOut
from app.images.node_images import NodeImages
from app.images.node_pulls import NodePulls
from app.images.pull_records import PullStore
from app.images.puller import ImagePuller
from app.images.tracks import TrackStore, concrete, to_prepull
from app.jobs.admission import Admission
from app.jobs.executors import ColourExecutor, KataSupport, RunExecutor
from app.jobs.queue_depth import QueueDepth
from app.jobs.records import COLOURS, RUNS, JobStore
from app.jobs.requests import ColourRequest, RunRequest
from app.jobs.submission import Send
from app.katas.records import KataStore
from app.katas.volumes import KataVolumes
from app.sandbox.exercism import Interfaces
from app.sandbox.pool import PoolKeeper, WarmPool
from app.sandbox.runner import Runner
from app.sandbox.supervisor import SupervisorVolume
from app.sandbox.uids import UidAllocator

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 5  # a worker beats this often
HEARTBEAT_TTL_SECONDS = 3 * HEARTBEAT_SECONDS  # a worker silent this long is dead
# Redis connections a web process may hold: its many green requests take turns on them
# rather than each opening one (a thousand long polls would otherwise be a thousand sockets).
WEB_REDIS_CONNECTIONS = 64


@dataclass(frozen=True)
class Externals:
    """The doors one process uses, built once: Redis, the clock and, on a worker, its
    node's Docker engine."""

    settings: Settings
    redis: Client
    clock: Clock = REAL

    @classmethod
    def for_web(cls, settings: Settings) -> "Externals":
        return cls(settings, connect(settings.redis_url, WEB_REDIS_CONNECTIONS))

    @classmethod
    def for_worker(cls, settings: Settings) -> "Externals":
        return cls(settings, connect(settings.redis_url))


@dataclass(frozen=True)
class Stores:
    """greenbar's records in Redis, with the same lifetimes in every process."""

    runs: JobStore[RunRequest]
    colours: JobStore[ColourRequest]
    registry: WorkerRegistry
    katas: KataStore
    pulls: PullStore
    tracks: TrackStore
    metrics: Metrics
    admission: Admission
    depth: QueueDepth
    periodic: OncePerPeriod
    allowlist: Allowlist
    builds: BuildStore

    @classmethod
    def over(cls, externals: Externals, notices: EndNotices | None = None) -> "Stores":
        """The stores over `externals`; `notices` lets waiters share one subscription."""
        settings, client, now = externals.settings, externals.redis, externals.clock.wall
        ttl, sleep = settings.result_ttl_seconds, externals.clock.sleep
        return cls(
            runs=JobStore(client, ttl, RUNS, now, sleep, notices),
            colours=JobStore(client, ttl, COLOURS, now, sleep, notices),
            registry=WorkerRegistry(client, HEARTBEAT_TTL_SECONDS, now),
            # twice the unused age: a kata's record outlives the volume the pruner removes
            katas=KataStore(client, int(settings.kata_unused_hours * 3600 * 2), now),
            pulls=PullStore(client, ttl, now),
            tracks=TrackStore(client, now),
            metrics=Metrics(client),
            admission=Admission(client, settings.queue_max_waiting, settings.retry_after_seconds),
            depth=QueueDepth(client),
            periodic=OncePerPeriod(client),
            allowlist=Allowlist(settings.images),
            builds=BuildStore(client, ttl, now),
        )


def for_web(settings: Settings) -> tuple[Externals, Stores]:
    """A web process's externals and stores: its waiters share one subscription to ends."""
    externals = Externals.for_web(settings)
    return externals, Stores.over(externals, EndNotices(externals.redis))


@dataclass
class NodeContext:
    """What a worker process uses; built by `NodeContext.create`, or by hand in tests."""

    externals: Externals
    stores: Stores
    engine: Engine
    runner: Runner
    rag_cache: RagCache
    evaluator: ResidentEvaluator  # this process's, closed when it shuts down
    runs: RunExecutor
    colours: ColourExecutor
    images: NodeImages
    fan_out: PullFanOut
    node_pulls: NodePulls
    pruner: Pruner
    reaper: Reaper
    builder: Builder

    @property
    def settings(self) -> Settings:
        return self.externals.settings

    @property
    def redis(self) -> Client:
        return self.externals.redis

    @classmethod
    def create(cls, settings: Settings, send: Send, worker: str = "") -> "NodeContext":
        """Wires a node from `settings`; `send` hands tasks to the broker (this node's pulls,
        the beat's fan-outs); runs take warm containers from `worker`'s pool (none without a
        worker name)."""
        externals = Externals.for_worker(settings)
        stores, engine, client = Stores.over(externals), Engine.from_env(), externals.redis
        times = externals.clock
        pool = WarmPool(client, worker, times.wall) if worker and settings.pool_size else None
        uids = UidAllocator(client, settings.node, settings.uid_base, settings.uid_count)
        supervisor = SupervisorVolume(engine, client, settings, times.sleep)
        runner = Runner(engine, settings, supervisor, uids, times.monotonic, pool, times.sleep)
        cache = RagCache(
            *(client, engine, settings.rag_cache_ttl_seconds, settings.rag_missing_ttl_seconds),
            *(times.monotonic, stores.metrics, settings.deployment),
        )
        evaluator = ResidentEvaluator(engine, settings, worker, times.monotonic)
        one_shot = OneShotEvaluator(engine, settings, times.monotonic)
        light = TrafficLight(cache, evaluator, one_shot, settings.rag_lambda_seconds)
        volumes = KataVolumes(engine, settings, uids)
        claim = settings.visibility_timeout_seconds + settings.longest_run_seconds
        kata = KataSupport(stores.katas, volumes, settings.kata_quota_mib * 1024, claim)
        images = NodeImages(engine)
        runs, colours, registry = stores.runs, stores.colours, stores.registry
        reaper = Reaper(
            engine,
            settings.longest_run_seconds,
            times.wall,
            lambda job_id: runs.ended(job_id) or colours.ended(job_id),
            settings.deployment,
            registry.is_live,
        )
        keep = settings.images if settings.prune_images else None
        fan_out = PullFanOut(stores, settings, send)
        puller = ImagePuller(images, cache, fan_out.enabled, times.monotonic)
        node, metrics = settings.node, stores.metrics
        return cls(
            externals=externals,
            stores=stores,
            engine=engine,
            runner=runner,
            rag_cache=cache,
            evaluator=evaluator,
            runs=RunExecutor(
                *(runs, node, metrics, runner, light, kata, Interfaces(engine)),
                fan_out.request if fan_out.enabled else None,
                times.monotonic,
            ),
            colours=ColourExecutor(
                colours, node, metrics, engine, light, times.monotonic, runner.dispose
            ),
            images=images,
            fan_out=fan_out,
            node_pulls=NodePulls(puller, stores.pulls, node, metrics, times.sleep),
            pruner=Pruner(
                volumes,
                stores.katas,
                reaper,
                images,
                settings.kata_unused_hours * 3600,
                keep,
                supervisor,
            ),
            reaper=reaper,
            builder=Builder(stores.builds, engine, settings, monotonic=times.monotonic),
        )

    def wanted_images(self) -> list[str]:
        """The images this worker runs: its allowlist's and its tracks' live ones."""
        return to_prepull(self.settings.images, self.settings.tracks, self.stores.tracks)

    def warmed_images(self) -> list[str]:
        """The images this worker keeps warm containers of: those it runs with the node's
        settings (a profiled image's runs get fresh containers, made to its profile)."""
        return [i for i in self.wanted_images() if self.settings.for_image(i) is self.settings]

    def ensure_evaluator(self) -> None:
        """Pulls the evaluator image (where rag lambdas run) if the node lacks it and pulls are
        enabled; a failure is logged, and colours say the image is missing until it is there."""
        image = self.settings.evaluator_image
        if not self.fan_out.enabled or self.images.held([image]):
            return
        try:
            self.images.pull(image, lambda event: None)
        except GreenbarError as error:
            log.error("could not pull the evaluator image %s: %s", image, error)

    def heartbeat(self, worker: str) -> HeartbeatThread:
        """`worker`'s heartbeat thread (not started), telling which allowed images the node
        holds and which tracks the worker serves."""
        settings, tracks = self.settings, self.stores.tracks
        return HeartbeatThread(
            self.stores.registry,
            self.engine,
            lambda: self.images.held([*concrete(settings.images), *tracks.images()]),
            worker,
            settings.node,
            HEARTBEAT_SECONDS,
            settings.tracks,
        )

    def pool_keeper(self, worker: str) -> PoolKeeper | None:
        """The keeper of `worker`'s warm pool (not started), over an engine of its own
        (docker-py clients are not shared across threads); None when the pool is off."""
        settings, client = self.settings, self.redis
        if settings.pool_size <= 0:
            return None
        engine = Engine.from_env()
        return PoolKeeper(
            WarmPool(client, worker, self.externals.clock.wall),
            engine,
            settings,
            self.warmed_images,
            SupervisorVolume(engine, client, settings, self.externals.clock.sleep),
            UidAllocator(client, settings.node, settings.uid_base, settings.uid_count),
        )
