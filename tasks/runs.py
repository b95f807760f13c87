"""The run and colour tasks: an id in, the node's executor called, a JSON summary out."""

from typing import Any

from celery import Task, shared_task

from app.jobs.queues import COLOUR_TASK, RUN_TASK
from tasks.node import node_context


@shared_task(name=RUN_TASK, bind=True)
def run(self: Task, run_id: str) -> dict[str, Any]:
    """Carries out the recorded run `run_id` on this node; the full result goes to its record."""
    return node_context().runs.execute(run_id, self.request.hostname or "").to_wire()


@shared_task(name=COLOUR_TASK, bind=True)
def colour(self: Task, colour_id: str) -> dict[str, Any]:
    """Colours the recorded outputs `colour_id` on this node; the verdict goes to its record."""
    return node_context().colours.execute(colour_id, self.request.hostname or "").to_wire()
