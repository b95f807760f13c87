"""The Redis connection, and where Redis's exceptions become greenbar's."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeAlias

import redis

from app.errors import StoreUnavailable

# The client type every store takes: redis-py's client on raw bytes (decode_responses off).
if TYPE_CHECKING:
    Client: TypeAlias = redis.Redis[bytes]
else:
    Client = redis.Redis

CONNECT_TIMEOUT_SECONDS = 5
# Above the longest blocking command (a ?wait BLMOVE, at most 25 s): redis-py 8 would cut
# every read at 5 s by default.
READ_TIMEOUT_SECONDS = 60


# A caller of a client with `connections` waits this long for a free one, then gets an error.
POOL_WAIT_SECONDS = 10


def connect(url: str, connections: int | None = None) -> Client:
    """A Redis client for `url`; no connection is made until the first command.

    Args:
        connections: the most connections it holds at once (callers wait their turn, up to
            POOL_WAIT_SECONDS); None: as many as there are callers at once.
    """
    options: dict[str, Any] = {
        "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "socket_timeout": READ_TIMEOUT_SECONDS,
        "health_check_interval": 30,
    }
    if connections is None:
        return redis.Redis.from_url(url, **options)
    pool = redis.BlockingConnectionPool.from_url(
        url, max_connections=connections, timeout=POOL_WAIT_SECONDS, **options
    )
    return redis.Redis(connection_pool=pool)


@contextmanager
def translated() -> Iterator[None]:
    """Turns any Redis failure inside the block into StoreUnavailable."""
    try:
        yield
    except redis.RedisError as error:
        raise StoreUnavailable(f"redis: {error}") from error
