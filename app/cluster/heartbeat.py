"""A background thread that keeps a worker's heartbeat fresh."""

import contextlib
import logging
import threading
from collections.abc import Callable

from app.cluster.workers import WorkerRegistry
from app.errors import ServiceUnavailable
from app.externals.engine import Engine
from app.images.node_images import HeldImage

log = logging.getLogger(__name__)


class HeartbeatThread:
    """Beats every `interval` seconds until stopped, saying whether Docker answers and which
    images the node holds.

    Args:
        registry: where heartbeats go.
        engine: the node's engine, pinged each beat.
        inventory: the allowed images the node holds, asked each beat.
        worker: the worker's name.
        node: the node's name.
        interval: seconds between beats.
        tracks: the tracks the worker serves; none: a generic worker.
    """

    def __init__(
        self,
        registry: WorkerRegistry,
        engine: Engine,
        inventory: Callable[[], list[HeldImage]],
        worker: str,
        node: str,
        interval: float,
        tracks: tuple[str, ...] = (),
    ) -> None:
        self._tracks = tracks
        self._registry = registry
        self._engine = engine
        self._inventory = inventory
        self._worker = worker
        self._node = node
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="greenbar-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=self._interval)
        with contextlib.suppress(ServiceUnavailable):  # else the key expires by itself
            self._registry.forget(self._worker)

    def _loop(self) -> None:
        while not self._stopped.is_set():
            try:
                docker_ok = self._engine.ping()
                images = self._inventory() if docker_ok else []
                self._registry.beat(self._worker, self._node, docker_ok, images, self._tracks)
            except ServiceUnavailable as error:
                log.warning("heartbeat failed: %s", error)
            self._stopped.wait(self._interval)
