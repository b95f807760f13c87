"""Removes greenbar containers a dead worker left behind: when a worker starts, and when the
pruner runs. Running or stopped, any labelled container older than the longest run is stale."""

import time
from collections.abc import Callable

from app.engine import Engine
from app.sandbox import LABEL_KIND


class Reaper:
    """Removes labelled containers older than the longest possible run.

    Younger ones may belong to a live worker on the same engine, so they are left alone.

    Args:
        engine: the node's Docker engine.
        longest_run_seconds: the age past which no live run can own a container.
        now: wall-clock seconds since the epoch.
    """

    def __init__(
        self, engine: Engine, longest_run_seconds: float, now: Callable[[], float] = time.time
    ) -> None:
        self._engine = engine
        self._longest = longest_run_seconds
        self._now = now

    def reap(self, now: float | None = None) -> list[str]:
        """Removes stale containers as of `now` (default: the clock); returns their names."""
        cutoff = (self._now() if now is None else now) - self._longest
        stale = [c.name for c in self._engine.labelled(LABEL_KIND) if c.created < cutoff]
        for name in stale:
            self._engine.remove(name)
        return stale
