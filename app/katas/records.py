"""Kata state in Redis: which node holds a kata's volume, when it was last used, which files
its last run was sent (so files the client has since deleted can be deleted from it), and
which run holds it now (one run of a kata at a time).

A kata is known inside greenbar only by its reference, an HMAC of the client and the id the
client chose under a secret kept in Redis: two clients using the same id get different katas,
and a volume's name says nothing of either.

Keys:
    greenbar:kata:secret        the deployment's HMAC key, made once (SET NX)
    greenbar:kata:<ref>         hash: node, last_used, sent (JSON list of names)
    greenbar:kata:<ref>:run     the id of the run using the kata now (SET NX, with a TTL)
"""

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable

from app.externals import clock, ids
from app.externals.store import Client, translated

KATA_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # checked by web.contract
REF_CHARS = 32
# Deletes the claim only if this run holds it: a run whose claim expired must not end another's.
RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"


def volume_name(kata: str) -> str:
    """The volume of the kata with reference `kata`."""
    return f"greenbar-kata-{kata}"


class KataStore:
    """Args: client: Redis. ttl: seconds kata state outlives its last use. now: wall clock."""

    def __init__(self, client: Client, ttl: int, now: Callable[[], float] = clock.wall) -> None:
        self._redis = client
        self._ttl = ttl
        self._now = now
        self._secret: bytes | None = None

    def ref(self, client: str, kata: str) -> str:
        """The reference of the kata `kata` of client `client` (an opaque hex string)."""
        message = f"{client}\0{kata}".encode()
        return hmac.new(self._key(), message, hashlib.sha256).hexdigest()[:REF_CHARS]

    def _key(self) -> bytes:
        if self._secret is None:
            with translated():
                self._redis.set("greenbar:kata:secret", ids.secret(32), nx=True)
                self._secret = bytes(self._redis.get("greenbar:kata:secret") or b"")
        return self._secret

    def claim(self, kata: str, run_id: str, seconds: int) -> str | None:
        """Makes `run_id` the kata's one run for at most `seconds`.

        Returns:
            None when claimed (or held by this run already); else the run holding it.
        """
        key = f"greenbar:kata:{kata}:run"
        with translated():
            while not self._redis.set(key, run_id, nx=True, ex=seconds):
                holder = self._redis.get(key)
                if holder is not None:  # else it expired a moment ago: claim it again
                    return None if holder.decode() == run_id else str(holder.decode())
        return None

    def release(self, kata: str, run_id: str) -> None:
        """Ends `run_id`'s claim on the kata, if it still holds it."""
        with translated():
            # types-redis leaves eval untyped
            self._redis.eval(RELEASE, 1, f"greenbar:kata:{kata}:run", run_id)  # type: ignore[no-untyped-call]

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
