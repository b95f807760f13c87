"""How many messages wait in a broker queue, read straight from Redis.

With the Redis transport kombu keeps a queue as a list named after it, plus one list per
priority step above 0 (the name, a separator, the step); a waiting message is in one of them.
"""

from collections.abc import Iterable

from app.externals.store import Client, translated

PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)  # kombu's defaults


def queue_keys(queue: str) -> list[str]:
    """The Redis lists that hold `queue`'s waiting messages."""
    return [queue if step == 0 else f"{queue}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS]


class QueueDepth:
    """Args: client: the broker's Redis."""

    def __init__(self, client: Client) -> None:
        self._redis = client

    def depth(self, queue: str) -> int:
        return self.depths([queue])[queue]

    def depths(self, queues: Iterable[str]) -> dict[str, int]:
        queues = list(queues)
        with translated(), self._redis.pipeline(transaction=False) as pipe:
            for queue in queues:
                for key in queue_keys(queue):
                    pipe.llen(key)
            lengths = pipe.execute()
        steps = len(PRIORITY_STEPS)
        return {q: sum(lengths[i * steps : (i + 1) * steps]) for i, q in enumerate(queues)}

    def queues(self, prefix: str) -> list[str]:
        """Every queue whose name starts with `prefix` that holds a message or ever did."""
        with translated():
            keys = {k.decode() for k in self._redis.scan_iter(match=f"{prefix}*", count=1000)}
        return sorted({k.split(PRIORITY_SEPARATOR, 1)[0] for k in keys})
