"""Each image's own rag lambda, read once per image digest and cached in Redis and in memory.

Keying by digest (the content-addressed image id) means a newly pulled build of an image is a
new key: its rule is read afresh, and no one ever flushes anything.

Keys:
    greenbar:rag:<digest>          the lambda's source, or MISSING; TTL refreshed on use
    greenbar:rag:<digest>:reading  held (SET NX) by the one process reading the image
    greenbar:rag:reads             a hash, digest -> how many times the image was read
"""

import logging
import time
from collections.abc import Callable

import redis

from app.engine import Engine
from app.metrics import Metrics
from app.rag_lambda import RagLambda
from app.sandbox import LABEL_DEPLOYMENT, LABEL_KIND
from app.store import translated

log = logging.getLogger(__name__)

RAG_PATH = "/usr/local/bin/red_amber_green.py"
MISSING = b"\0missing"
READS = "greenbar:rag:reads"
READ_LOCK_SECONDS = 30
WAIT_FOR_READER_SECONDS = 10
POLL_SECONDS = 0.05


class RagCache:
    """Rag lambdas by image digest.

    Args:
        client: Redis, shared by every worker.
        engine: this node's engine, to read an image's lambda on a miss.
        ttl: seconds a cached source lives after its last use.
        missing_ttl: seconds "this image has no lambda" is believed, in Redis and in memory.
        clock: monotonic seconds.
        metrics: counts hits and misses.
        deployment: labels the container that reads an image's lambda.
    """

    def __init__(
        self,
        client: redis.Redis,
        engine: Engine,
        ttl: int,
        missing_ttl: int,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
        deployment: str = "default",
    ) -> None:
        self._metrics = metrics
        self._labels = {LABEL_KIND: "rag-reader", LABEL_DEPLOYMENT: deployment}
        self._redis = client
        self._engine = engine
        self._ttl = ttl
        self._missing_ttl = missing_ttl
        self._clock = clock
        self._memory: dict[str, tuple[RagLambda | None, float]] = {}  # digest -> (λ, refresh at)

    def lambda_for(self, digest: str) -> RagLambda | None:
        """The compiled lambda of the image `digest`, or None if the image has none."""
        cached = self._memory.get(digest)
        now = self._clock()
        if cached is not None and now < cached[1]:
            self._counted("hit")
            return cached[0]
        source = self.source(digest)
        found = None if source is None else RagLambda.compile(source)
        # Until the memory entry is refreshed, the Redis TTL is not: refresh well within it.
        lifetime = self._missing_ttl if found is None else self._ttl / 4
        self._memory[digest] = (found, now + lifetime)
        return found

    def source(self, digest: str) -> str | None:
        """The lambda's source from Redis, reading the image (once, whoever asks) on a miss."""
        key = f"greenbar:rag:{digest}"
        with translated():
            raw = self._redis.getex(key, ex=self._ttl)
            if raw is None and self._redis.set(f"{key}:reading", 1, nx=True, ex=READ_LOCK_SECONDS):
                try:
                    raw = self._read_into_cache(digest)
                finally:
                    self._redis.delete(f"{key}:reading")
            elif raw is None:
                raw = self._await_reader(digest)
            else:
                self._counted("hit")
        return None if raw == MISSING else raw.decode("utf-8", "replace")

    def store(self, digest: str, source: bytes | None) -> None:
        """Caches `source` (None: the image has no lambda) for `digest`."""
        ttl = self._ttl if source is not None else self._missing_ttl
        with translated():
            self._redis.set(f"greenbar:rag:{digest}", source or MISSING, ex=ttl)
        self._memory.pop(digest, None)

    def reads(self, digest: str) -> int:
        """How many times any process read `digest`'s lambda from the image."""
        with translated():
            return int(self._redis.hget(READS, digest) or 0)

    def _counted(self, result: str) -> None:
        if self._metrics is not None:
            self._metrics.count("rag_cache_total", result=result)

    def _read_into_cache(self, digest: str) -> bytes:
        self._counted("miss")
        source = self._engine.read_file(digest, RAG_PATH, self._labels)
        with translated():
            self._redis.hincrby(READS, digest, 1)
        log.info("read the rag lambda of %s (%s)", digest, "found" if source else "missing")
        self.store(digest, source)
        return source if source is not None else MISSING

    def _await_reader(self, digest: str) -> bytes:
        deadline = self._clock() + WAIT_FOR_READER_SECONDS
        while self._clock() < deadline:
            time.sleep(POLL_SECONDS)
            raw = self._redis.get(f"greenbar:rag:{digest}")
            if raw is not None:
                return raw
        return self._read_into_cache(digest)  # the reader died: read it ourselves
