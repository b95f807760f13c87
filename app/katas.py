"""Kata state in Redis: which node holds a kata's volume, when it was last used, and which
files its last run was sent (so files the client has since deleted can be deleted from it).

Key: greenbar:kata:<id>  hash: node, last_used, sent (JSON list of names)
"""

import json
import re
import time
from collections.abc import Callable, Iterable

import redis

from app.store import translated

KATA_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # checked by web.contract


def volume_name(kata: str) -> str:
    return f"greenbar-kata-{kata}"


class KataStore:
    """Args: client: Redis. ttl: seconds kata state outlives its last use. now: wall clock."""

    def __init__(self, client: redis.Redis, ttl: int, now: Callable[[], float] = time.time) -> None:
        self._redis = client
        self._ttl = ttl
        self._now = now

    def node_of(self, kata: str) -> str | None:
        """The node holding the kata's volume, if any node ever did."""
        with translated():
            node = self._redis.hget(f"greenbar:kata:{kata}", "node")
        return node.decode() if node else None

    def use(self, kata: str, node: str, sent: Iterable[str]) -> list[str]:
        """Records a run of `kata` on `node` now, with the names sent.

        Returns:
            The names sent to the previous run on the same node (none if it ran elsewhere).
        """
        key = f"greenbar:kata:{kata}"
        with translated():
            before = self._redis.hmget(key, ["node", "sent"])
            fields = {"node": node, "last_used": self._now(), "sent": json.dumps(sorted(sent))}
            with self._redis.pipeline() as pipe:
                pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
                pipe.expire(key, self._ttl)
                pipe.execute()
        same_node = before[0] is not None and before[0].decode() == node
        return json.loads(before[1]) if same_node and before[1] else []

    def last_used(self, kata: str) -> float | None:
        with translated():
            raw = self._redis.hget(f"greenbar:kata:{kata}", "last_used")
        return float(raw) if raw else None

    def forget(self, kata: str) -> None:
        with translated():
            self._redis.delete(f"greenbar:kata:{kata}")
