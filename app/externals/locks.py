"""Redis locks that only their holder can release.

A lock is redis-py's `Lock`: SET NX with a random token and an expiry, released by a Lua
compare-and-delete. A holder that outlives its lock (a pull slower than its 900 s, a process
stopped in a debugger) finds the key gone or holding another's token, and leaves it alone: a
plain DELETE would end the new holder's lock and let a third process in beside it.

Not every SET NX is such a lock: a kata's run claim (app/katas/records.py) holds the run's id
and is released by the same compare-and-delete; a periodic claim (app/cluster/periodic.py) is
never released, its expiry is the point.
"""

import logging

from redis.exceptions import LockNotOwnedError
from redis.lock import Lock

from app.externals.store import Client

log = logging.getLogger(__name__)
__all__ = ["Lock", "lock", "release"]


def lock(client: Client, key: str, seconds: float) -> Lock:
    """A lock on `key` that expires `seconds` after it is taken; take it with
    `acquire(blocking=False)`. One holder per object: never share one between holders."""
    return Lock(client, key, timeout=seconds)


def release(held: Lock) -> bool:
    """Releases `held` if it is still this holder's; False, with a warning, if it expired
    first (and another may hold it now: it is theirs, and stays).

    Raises:
        redis.RedisError: Redis failed (callers translate it).
    """
    try:
        held.release()
    except LockNotOwnedError:
        log.warning("lock %s expired before its holder released it: left as it is", held.name)
        return False
    return True
