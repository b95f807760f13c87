"""Which workers are alive: each writes a heartbeat key with a TTL; a silent one disappears."""

import json
from collections.abc import Callable, Iterable
from typing import Any

from app.externals import clock
from app.externals.store import Client, translated

PREFIX = "greenbar:worker:"


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
        images: list[Any] | None = None,
        tracks: Iterable[str] = (),
    ) -> None:
        """Says `worker` on `node` is alive, whether its Docker engine answers, which
        allowed images the node holds, and which tracks the worker serves (none: any run)."""
        info = {
            "worker": worker,
            "node": node,
            "docker": docker_ok,
            "images": images or [],
            "tracks": list(tracks),
            "at": self._now(),
        }
        with translated():
            self._redis.set(PREFIX + worker, json.dumps(info), ex=self._ttl)

    def forget(self, worker: str) -> None:
        with translated():
            self._redis.delete(PREFIX + worker)

    def nodes(self) -> dict[str, dict[str, Any]]:
        """Live nodes by name: their workers, whether Docker answers, the images they hold."""
        found: dict[str, dict[str, Any]] = {}
        for beat in self.live():
            node = found.setdefault(beat["node"], {"workers": [], "docker": False, "images": []})
            node["workers"].append(beat["worker"])
            node["docker"] = node["docker"] or beat["docker"]
            node["images"] = beat.get("images") or node["images"]
        return found

    def live(self) -> list[dict[str, Any]]:
        """Every worker whose heartbeat has not expired, by name."""
        with translated():
            keys = sorted(self._redis.scan_iter(match=PREFIX + "*", count=1000))
            values = self._redis.mget(keys) if keys else []
        return [json.loads(v) for v in values if v is not None]
