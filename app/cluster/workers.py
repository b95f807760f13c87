"""Which workers are alive: each writes a heartbeat key with a TTL; a silent one disappears."""

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from app.externals import clock
from app.externals.store import Client, translated
from app.images.node_images import HeldImage

PREFIX = "greenbar:worker:"


@dataclass(frozen=True)
class Heartbeat:
    """One worker's latest word: alive on `node`, whether its Docker engine answers, which
    allowed images the node holds, and the tracks it serves (none: a generic worker)."""

    worker: str
    node: str
    docker: bool
    images: list[HeldImage] = field(default_factory=list)
    tracks: tuple[str, ...] = ()
    at: float = 0.0

    @property
    def generic(self) -> bool:
        return not self.tracks

    def to_wire(self) -> dict[str, Any]:
        return {**asdict(self), "tracks": list(self.tracks)}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> "Heartbeat":
        return cls(**{**wire, "tracks": tuple(wire.get("tracks") or ())})


class WorkerRegistry:
    """Heartbeats in Redis.

    Args:
        client: a Redis connection.
        ttl: seconds a heartbeat counts for; beat at least twice as often.
        now: wall-clock seconds since the epoch.
    """

    def __init__(self, client: Client, ttl: int, now: Callable[[], float] = clock.wall) -> None:
        self._redis = client
        self._ttl = ttl
        self._now = now

    def beat(
        self,
        worker: str,
        node: str,
        docker_ok: bool,
        images: list[HeldImage] | None = None,
        tracks: Iterable[str] = (),
    ) -> None:
        """Says `worker` on `node` is alive, whether its Docker engine answers, which
        allowed images the node holds, and which tracks the worker serves (none: any run)."""
        beat = Heartbeat(worker, node, docker_ok, images or [], tuple(tracks), self._now())
        with translated():
            self._redis.set(PREFIX + worker, json.dumps(beat.to_wire()), ex=self._ttl)

    def forget(self, worker: str) -> None:
        with translated():
            self._redis.delete(PREFIX + worker)

    def nodes(self) -> dict[str, dict[str, Any]]:
        """Live nodes by name (their wire form): their workers, whether Docker answers, the
        images they hold."""
        found: dict[str, dict[str, Any]] = {}
        for beat in self.live():
            node = found.setdefault(beat.node, {"workers": [], "docker": False, "images": []})
            node["workers"].append(beat.worker)
            node["docker"] = node["docker"] or beat.docker
            node["images"] = beat.images or node["images"]
        return found

    def live(self) -> list[Heartbeat]:
        """Every worker whose heartbeat has not expired, by name."""
        with translated():
            keys = sorted(self._redis.scan_iter(match=PREFIX + "*", count=1000))
            values = self._redis.mget(keys) if keys else []
        return [Heartbeat.from_wire(json.loads(v)) for v in values if v is not None]

    def is_live(self, worker: str) -> bool:
        """Whether `worker`'s heartbeat is fresh."""
        with translated():
            return bool(self._redis.exists(PREFIX + worker))
