"""Carrying out a recorded run on this node: the worker's side of a run's life."""

from typing import Any

from app.errors import EngineUnavailable
from app.runner import Runner
from app.runs import RunStore


class RunExecutor:
    """Takes a queued run from the store, runs it, and records how it ended.

    Args:
        store: the run records.
        runner: this node's runner.
        node: this node's name, recorded on the run.
    """

    def __init__(self, store: RunStore, runner: Runner, node: str) -> None:
        self._store = store
        self._runner = runner
        self._node = node

    def execute(self, run_id: str) -> dict[str, Any]:
        """Runs `run_id` and records its result; never leaves it `running`.

        Returns:
            A short summary: id, state and outcome (the full result is in the store).
        """
        request = self._store.request(run_id)
        if request is None:
            return {"id": run_id, "state": "gone", "outcome": None}
        self._store.start(run_id, self._node)
        try:
            result = self._runner.run(
                request["image"], request["files"], request["max_seconds"], run_id
            )
        except EngineUnavailable as error:
            self._store.fail(run_id, str(error))
            return {"id": run_id, "state": "error", "outcome": None}
        except BaseException as error:  # a bug, a time limit, a shutdown: still say so
            self._store.fail(run_id, f"internal error: {type(error).__name__}: {error}")
            raise
        self._store.finish(run_id, dict(result))
        return {"id": run_id, "state": "done", "outcome": result["outcome"]}
