"""Each image's own rag lambda, read once per image digest and cached in Redis and in memory.

Keying by digest (the content-addressed image id) means a newly pulled build of an image is a
new key: its rule is read afresh, and no one ever flushes anything.

An image's lambda is `/usr/local/bin/red_amber_green.py` (greenbar's own contract, Python) or
else `/usr/local/bin/red_amber_green.rb` (cyber-dojo's, Ruby). When an image has both, the .py
wins: greenbar's file is there because someone wrote it for greenbar, while a .rb beside it is
most likely inherited from a cyber-dojo base image. Anything at the .py path decides, even
something unreadable, so a broken .py is reported rather than silently passed over.

Keys:
    greenbar:rag:<digest>          RagLambda.encode(), or MISSING; TTL refreshed on use
    greenbar:rag:<digest>:reading  held by the one process reading the image (externals/locks.py)
    greenbar:rag:reads             a hash, digest -> how many times the image was read
"""

import logging
from collections.abc import Callable

from app.cluster.metrics import Metrics
from app.colour.rag_lambda import MISSING, Language, RagLambda
from app.externals import clock, locks
from app.externals.engine import Engine, ImageFile
from app.externals.store import Client, translated
from app.sandbox.spec import LABEL_DEPLOYMENT, LABEL_KIND

log = logging.getLogger(__name__)

PY_PATH = "/usr/local/bin/red_amber_green.py"
RB_PATH = "/usr/local/bin/red_amber_green.rb"
LANGUAGES = {PY_PATH: Language.PYTHON, RB_PATH: Language.RUBY}  # in the order they are tried
CAP_BYTES = 64 * 1024  # a rule is a few lines; anything bigger is refused unread
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
        missing_ttl: seconds "this image has no (readable) lambda" is believed, in Redis and
            in memory.
        clock: monotonic seconds.
        metrics: counts hits and misses.
        deployment: labels the container that reads an image's lambda.
    """

    def __init__(
        self,
        client: Client,
        engine: Engine,
        ttl: int,
        missing_ttl: int,
        clock: Callable[[], float] = clock.monotonic,
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
        """The image `digest`'s own lambda (perhaps unreadable), or None if it has none."""
        cached = self._memory.get(digest)
        now = self._clock()
        if cached is not None and now < cached[1]:
            self._counted("hit")
            return cached[0]
        found = self.fetch(digest)
        # Until the memory entry is refreshed, the Redis TTL is not: refresh well within it.
        readable = found is not None and not found.problem
        self._memory[digest] = (found, now + (self._ttl / 4 if readable else self._missing_ttl))
        return found

    def fetch(self, digest: str) -> RagLambda | None:
        """The lambda from Redis, reading the image (once, whoever asks) on a miss."""
        key = f"greenbar:rag:{digest}"
        reading = locks.lock(self._redis, f"{key}:reading", READ_LOCK_SECONDS)
        with translated():
            raw = self._redis.getex(key, ex=self._ttl)
            if raw is None and reading.acquire(blocking=False):
                try:
                    raw = self._read_into_cache(digest)
                finally:
                    locks.release(reading)
            elif raw is None:
                raw = self._await_reader(digest)
            else:
                self._counted("hit")
        return RagLambda.decode(raw)

    def store(self, digest: str, found: RagLambda | None) -> None:
        """Caches `found` (None: the image has no lambda) for `digest`."""
        readable = found is not None and not found.problem
        raw = found.encode() if found is not None else MISSING
        with translated():
            self._redis.set(
                f"greenbar:rag:{digest}", raw, ex=self._ttl if readable else self._missing_ttl
            )
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
        found = _lambda(self._engine.read_file(digest, tuple(LANGUAGES), self._labels, CAP_BYTES))
        with translated():
            self._redis.hincrby(READS, digest, 1)
        said = "missing" if found is None else found.problem or f"found ({found.language})"
        log.info("read the rag lambda of %s: %s", digest, said)
        self.store(digest, found)
        return found.encode() if found is not None else MISSING

    def _await_reader(self, digest: str) -> bytes:
        deadline = self._clock() + WAIT_FOR_READER_SECONDS
        while self._clock() < deadline:
            clock.sleep(POLL_SECONDS)
            raw = self._redis.get(f"greenbar:rag:{digest}")
            if raw is not None:
                return raw
        return self._read_into_cache(digest)  # the reader died: read it ourselves


def _lambda(found: ImageFile | None) -> RagLambda | None:
    if found is None:
        return None
    language = LANGUAGES[found.path]
    if found.problem:
        return RagLambda(language, "", found.problem)
    return RagLambda(language, found.content.decode("utf-8", "replace"))
