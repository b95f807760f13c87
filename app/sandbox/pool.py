"""Warm one-shot containers: created and started ahead of time with the run settings, waiting
at the supervisor's first read. A run takes one (renaming it after itself), feeds it, and it
is removed like any run's; none is ever used twice. A keeper thread in the worker's main
process refills each image's pool in the background and drains it when the image goes idle.

Keys (per worker, so a worker restarting never takes or removes another's):
    greenbar:pool:<worker>:<digest>   a list of ready container names
    greenbar:pool:<worker>:demand     a hash, digest -> when a run last wanted one
"""

import logging
import threading
from collections.abc import Callable

from app.config import Settings
from app.errors import GreenbarError, ImageMissing, StoreUnavailable
from app.externals import clock, ids
from app.externals.engine import EngineDoor
from app.externals.store import Client, translated
from app.sandbox.spec import LABEL_WORKER, pool_labels, spec
from app.sandbox.supervisor import SupervisorVolume
from app.sandbox.uids import UidAllocator

log = logging.getLogger(__name__)
RESOLVE_SECONDS = 2  # how often image names are resolved to digests again


class WarmPool:
    """The ready containers of one worker, shared by its pool processes through Redis.

    Args:
        client: Redis.
        worker: the worker's name.
        now: wall-clock seconds since the epoch.
    """

    def __init__(self, client: Client, worker: str, now: Callable[[], float] = clock.wall):
        self._redis = client
        self.worker = worker
        self._now = now

    def _key(self, digest: str) -> str:
        return f"greenbar:pool:{self.worker}:{digest}"

    def take(self, digest: str) -> str | None:
        """A ready container of image `digest`, or None; either way the demand is noted."""
        with translated(), self._redis.pipeline(transaction=False) as pipe:
            pipe.lpop(self._key(digest))
            pipe.hset(self._demand, digest, self._now())
            name, _ = pipe.execute()
        return name.decode() if name else None

    def want(self, digest: str) -> None:
        """Notes that runs will want `digest`, so the keeper warms it."""
        with translated():
            self._redis.hset(self._demand, digest, self._now())

    @property
    def _demand(self) -> str:
        return f"greenbar:pool:{self.worker}:demand"

    def put(self, digest: str, name: str) -> None:
        with translated():
            self._redis.rpush(self._key(digest), name)

    def ready(self, digest: str) -> int:
        with translated():
            return int(self._redis.llen(self._key(digest)))

    def drain(self, digest: str) -> list[str]:
        """Empties `digest`'s pool; returns the names taken out."""
        with translated(), self._redis.pipeline() as pipe:
            pipe.lrange(self._key(digest), 0, -1)
            pipe.delete(self._key(digest))
            names, _ = pipe.execute()
        return [n.decode() for n in names]

    def demand(self) -> dict[str, float]:
        """When a run last wanted each image: digest -> seconds since the epoch."""
        with translated():
            raw = self._redis.hgetall(self._demand)
        return {k.decode(): float(v) for k, v in raw.items()}

    def forget(self, digest: str) -> None:
        with translated():
            self._redis.hdel(self._demand, digest)


class PoolKeeper:
    """Keeps `settings.pool_size` warm containers of each of the worker's images, in a thread.

    Only the images the worker is configured for (its allowlist's and its tracks') get warm
    containers, each under the digest its name points to now: when a name moves to a new
    build, the old digest's containers are drained. Others run in fresh containers.

    Args:
        pool: the worker's pool.
        engine: the node's engine (one of the keeper's own: docker-py clients are not shared
            across threads).
        settings: the run settings, and the pool's size and idle time.
        wanted: the worker's images by name, asked again every RESOLVE_SECONDS.
        supervisor: the node's supervisor volume (over the keeper's engine).
        uids: gives each warm container a uid of its own.
        interval: seconds between checks.
    """

    def __init__(
        self,
        pool: WarmPool,
        engine: EngineDoor,
        settings: Settings,
        wanted: Callable[[], list[str]],
        supervisor: SupervisorVolume,
        uids: UidAllocator,
        interval: float = 0.1,
    ) -> None:
        self._pool = pool
        self._engine = engine
        self._settings = settings
        self._supervisor = supervisor
        self._uids = uids
        self._wanted = wanted
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="greenbar-pool", daemon=True)
        self._allowed: set[str] = set()
        self._resolved_at = 0.0

    def start(self) -> None:
        self._sweep_leftovers()
        for digest in self._resolve():
            self._pool.want(digest)  # warm from the start, before any run asks
        self._thread.start()

    def _resolve(self) -> set[str]:
        """The digests of the worker's images on this node, now."""
        found = set()
        for image in self._wanted():
            try:
                found.add(self._engine.image_id(image))
            except ImageMissing:
                continue
        self._allowed, self._resolved_at = found, clock.monotonic()
        return found

    def stop(self) -> None:
        """Stops refilling and removes every container still waiting (found by its labels,
        so a Redis that is already gone does not keep them)."""
        self._stopped.set()
        self._thread.join(timeout=10)
        self._sweep_leftovers()

    def _loop(self) -> None:
        while not self._stopped.is_set():
            try:
                self._keep()
            except GreenbarError as error:
                log.warning("warm pool: %s", error)
                self._stopped.wait(1)
            self._stopped.wait(self._interval)

    def _keep(self) -> None:
        if clock.monotonic() - self._resolved_at > RESOLVE_SECONDS:
            self._resolve()
        idle_before = clock.wall() - self._settings.pool_idle_seconds
        for digest, wanted_at in self._pool.demand().items():
            if wanted_at < idle_before or digest not in self._allowed:
                self._remove(self._pool.drain(digest))
                self._pool.forget(digest)
            elif self._pool.ready(digest) < self._settings.pool_size:
                self._pool.put(digest, self._warm(digest))

    def _warm(self, digest: str) -> str:
        name = f"greenbar-pool-{ids.token(8)}"
        labels = pool_labels(self._settings, self._pool.worker)
        supervisor, uid = self._supervisor.ensure(digest), self._uids.allocate()
        self._engine.create(spec(self._settings, digest, name, labels, uid, supervisor))
        self._engine.start(name)
        return name

    def _remove(self, names: list[str]) -> None:
        for name in names:
            self._engine.remove(name)

    def _sweep_leftovers(self) -> None:
        """Removes every container of this worker still waiting, and empties its lists."""
        for container in self._engine.labelled(f"{LABEL_WORKER}={self._pool.worker}"):
            if container.name.startswith("greenbar-pool-"):
                self._engine.remove(container.name)
        try:
            for digest in self._pool.demand():
                self._pool.drain(digest)
        except StoreUnavailable:
            log.warning("warm pool: Redis is gone; its lists expire with it")
