"""Removes greenbar containers a dead worker left behind: when a worker starts, and when the
pruner runs. A labelled container is stale when it is older than the longest possible run, or
when the run it belongs to has already ended (its worker died and the run was closed); a warm
container that no run has taken yet, and a worker process's resident evaluator, are stale only
once their worker is gone. So is a resident evaluator's socket volume: it goes with its
container, and one left (the engine failed mid-removal) goes once its worker is gone."""

from collections.abc import Callable

from app.externals import clock
from app.externals.engine import EngineDoor, LabelledContainer
from app.sandbox.spec import LABEL_DEPLOYMENT, LABEL_KIND, LABEL_RUN, LABEL_WORKER, RUN_PREFIX


class Reaper:
    """Removes stale labelled containers; younger ones of live runs are left alone.

    Args:
        engine: the node's Docker engine.
        longest_run_seconds: the age past which no live run can own a container.
        now: wall-clock seconds since the epoch.
        ended: whether the run with this id has ended (its record holds a final state);
            by default nothing is known and only age counts.
        deployment: containers labelled with another deployment are never touched.
        alive: whether the worker of this name is alive (its warm containers are its own).
    """

    def __init__(
        self,
        engine: EngineDoor,
        longest_run_seconds: float,
        now: Callable[[], float] = clock.wall,
        ended: Callable[[str], bool] = lambda run_id: False,
        deployment: str = "default",
        alive: Callable[[str], bool] = lambda worker: True,
    ) -> None:
        self._deployment = deployment
        self._alive = alive
        self._engine = engine
        self._longest = longest_run_seconds
        self._now = now
        self._ended = ended

    def reap(self, now: float | None = None) -> list[str]:
        """Removes stale containers as of `now` (default: the clock); returns their names."""
        cutoff = (self._now() if now is None else now) - self._longest
        stale = [c.name for c in self._engine.labelled(LABEL_KIND) if self._stale(c, cutoff)]
        for name in stale:
            self._engine.remove(name)
        return stale

    def reap_volumes(self) -> list[str]:
        """Removes evaluators' socket volumes whose worker is gone (or that never had one, a
        tool's) and that no container uses; returns their names."""
        removed = []
        for name, labels in self._engine.volumes([f"{LABEL_KIND}=evaluator"]):
            if labels.get(LABEL_DEPLOYMENT, self._deployment) != self._deployment:
                continue
            worker = labels.get(LABEL_WORKER, "")
            if worker and self._alive(worker):
                continue
            # `busy` while its container runs: it goes with that container.
            if self._engine.remove_volume(name) == "removed":
                removed.append(name)
        return removed

    def _stale(self, container: LabelledContainer, cutoff: float) -> bool:
        labels = container.labels
        if labels.get(LABEL_DEPLOYMENT, self._deployment) != self._deployment:
            return False
        if labels.get(LABEL_KIND) == "kata-holder":
            return False  # it lives as long as its kata volume: the pruner removes both
        if labels.get(LABEL_KIND) == "pool" and container.name.startswith("greenbar-pool-"):
            return not self._alive(labels.get(LABEL_WORKER, ""))  # still waiting to be taken
        if labels.get(LABEL_KIND) == "evaluator" and LABEL_RUN not in labels:
            # A resident one. Without a worker it is a tool's (a benchmark's), which
            # auto_remove removes when the tool's process ends.
            worker = labels.get(LABEL_WORKER, "")
            return bool(worker) and not self._alive(worker)
        if container.created < cutoff:
            return True
        run_id = labels.get(LABEL_RUN) or container.name.removeprefix(RUN_PREFIX)
        return run_id != container.name and self._ended(run_id.removesuffix("-rag"))
