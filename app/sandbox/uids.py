"""A uid of its own for every run container on a node.

The kernel counts some resources per uid across the whole host, whatever container a
process is in: inotify instances and watches, pipe buffer pages, and more. Were every sandbox
the same uid, one run could use them all up and make another's `inotify_init` fail. Each run
container (and each kata volume, whose files it owns) takes the next uid of the node's range
instead, so a uid comes round again only after `count` more containers.

Key: greenbar:uids:<node>   a counter, INCR'd once per container
"""

from app.externals.store import Client, translated


class UidAllocator:
    """Args: client: Redis. node: the node the uids are for. base, count: the range."""

    def __init__(self, client: Client, node: str, base: int, count: int) -> None:
        self._redis = client
        self._key = f"greenbar:uids:{node}"
        self._base = base
        self._count = count

    def allocate(self) -> int:
        """The next uid of the range; its gid is the same number."""
        with translated():
            taken = int(self._redis.incr(self._key))
        return self._base + taken % self._count
