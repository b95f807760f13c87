"""Counters every process adds to, kept in one Redis hash so any web process can serve them.

A worker counts in memory and flushes the deltas once per job (one round trip), so counting
costs nothing on hot paths such as a rag-cache hit.

Key: greenbar:metrics  hash: "<name>|<label>=<value>,…" -> number
"""

from collections import defaultdict

from app.externals.store import Client, translated

KEY = "greenbar:metrics"
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0)  # seconds


def field(name: str, **labels: str) -> str:
    return name + "|" + ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def parse(raw: str) -> tuple[str, dict[str, str]]:
    """The name and labels of a stored field."""
    name, _, labels = raw.partition("|")
    return name, dict(pair.split("=", 1) for pair in labels.split(",") if pair)


class Metrics:
    """Args: client: Redis, shared by every process."""

    def __init__(self, client: Client) -> None:
        self._redis = client
        self._pending: dict[str, float] = defaultdict(float)

    def count(self, name: str, amount: float = 1, **labels: str) -> None:
        self._pending[field(name, **labels)] += amount

    def observe_run_seconds(self, seconds: float) -> None:
        """Adds one run duration to the histogram (cumulative buckets, as Prometheus has it)."""
        for bound in DURATION_BUCKETS:
            if seconds <= bound:
                self.count("run_duration_bucket", le=str(bound))
        self.count("run_duration_bucket", le="+Inf")
        self.count("run_duration_sum", seconds)
        self.count("run_duration_count")

    def flush(self) -> None:
        """Adds what was counted since the last flush to Redis; a Redis failure keeps it."""
        if not self._pending:
            return
        pending, self._pending = self._pending, defaultdict(float)
        try:
            with translated(), self._redis.pipeline(transaction=False) as pipe:
                for name, amount in pending.items():
                    pipe.hincrbyfloat(KEY, name, amount)
                pipe.execute()
        except Exception:
            for name, amount in pending.items():
                self._pending[name] += amount
            raise

    def read(self) -> dict[str, float]:
        with translated():
            raw = self._redis.hgetall(KEY)
        return {k.decode(): float(v) for k, v in raw.items()}
