"""The Redis connection, and where Redis's exceptions become greenbar's."""

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from app.errors import StoreUnavailable

CONNECT_TIMEOUT_SECONDS = 5
# Above the longest blocking command (a ?wait BLMOVE, at most 25 s): redis-py 8 would cut
# every read at 5 s by default.
READ_TIMEOUT_SECONDS = 60


def connect(url: str) -> redis.Redis:
    """A Redis client for `url`; no connection is made until the first command."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_timeout=READ_TIMEOUT_SECONDS,
        health_check_interval=30,
    )


@contextmanager
def translated() -> Iterator[None]:
    """Turns any Redis failure inside the block into StoreUnavailable."""
    try:
        yield
    except redis.RedisError as error:
        raise StoreUnavailable(f"redis: {error}") from error
