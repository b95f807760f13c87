"""Pull records (one per POST /pulls, a state per node) and the one-pull-at-a-time locks.

Keys:
    greenbar:pull:<id>                  hash: image, created_at, node:<name> -> JSON state
    greenbar:pull-lock:<node>:<image>   held while that node pulls it (app/externals/locks.py)
"""

import json
from collections.abc import Callable, Iterable
from typing import Any

from app.errors import UnknownJob
from app.externals import clock, ids, locks
from app.externals.locks import Lock
from app.externals.store import Client, translated
from app.images.puller import PullState

LOCK_SECONDS = 900  # a pull taking longer than this frees its lock anyway


class PullStore:
    """Args: client: Redis. ttl: seconds a pull record lives. now: wall-clock seconds."""

    def __init__(self, client: Client, ttl: int, now: Callable[[], float] = clock.wall) -> None:
        self._redis = client
        self._ttl = ttl
        self._now = now
        self._held: dict[tuple[str, str], Lock] = {}  # the pull locks this process holds

    def create(self, pull_id: str, image: str, nodes: Iterable[str]) -> None:
        asked = json.dumps({"state": "pulling", "digest": "", "progress": {}, "error": ""})
        fields: dict[str | bytes, str | float] = {"image": image, "created_at": self._now()}
        fields.update({f"node:{node}": asked for node in nodes})
        with translated(), self._redis.pipeline() as pipe:
            pipe.hset(f"greenbar:pull:{pull_id}", mapping=fields)
            pipe.expire(f"greenbar:pull:{pull_id}", self._ttl)
            pipe.execute()

    def fan_out(
        self, image: str, nodes: Iterable[str], send: Callable[[str, str, str], None]
    ) -> str:
        """Records a new pull of `image` on `nodes` and sends it to each with
        `send(image, pull_id, node)`; returns the pull's id."""
        nodes = list(nodes)
        pull_id = ids.token(16)
        self.create(pull_id, image, nodes)
        for node in nodes:
            send(image, pull_id, node)
        return pull_id

    def update(self, pull_id: str, node: str, state: PullState) -> None:
        shown = {k: v for k, v in state.items() if k != "changed"}
        with translated():
            self._redis.hset(f"greenbar:pull:{pull_id}", f"node:{node}", json.dumps(shown))

    def get(self, pull_id: str) -> dict[str, Any]:
        """The pull as clients see it.

        Raises:
            UnknownJob: no such pull (or it expired).
        """
        with translated():
            raw = self._redis.hgetall(f"greenbar:pull:{pull_id}")
        if not raw:
            raise UnknownJob("pull", pull_id)
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        nodes = {k[5:]: json.loads(v) for k, v in fields.items() if k.startswith("node:")}
        return {"id": pull_id, "image": fields["image"], "nodes": nodes}

    def lock(self, node: str, image: str) -> bool:
        """Takes the lock for pulling `image` on `node`; False if a pull holds it already."""
        held = locks.lock(self._redis, _lock(node, image), LOCK_SECONDS)
        with translated():
            if not held.acquire(blocking=False):
                return False
        self._held[(node, image)] = held
        return True

    def is_locked(self, node: str, image: str) -> bool:
        with translated():
            return bool(self._redis.exists(_lock(node, image)))

    def unlock(self, node: str, image: str) -> None:
        """Releases the lock this store took for `image` on `node`, if it still holds it: a
        pull that outlived its lock leaves the next pull's alone."""
        held = self._held.pop((node, image), None)
        if held is not None:
            with translated():
                locks.release(held)


def _lock(node: str, image: str) -> str:
    return f"greenbar:pull-lock:{node}:{image}"
