"""The run task: a run id in, the node's executor called, a JSON summary out."""

from typing import Any

from celery import shared_task

from tasks.node import node_context
from tasks.queues import RUN_TASK


@shared_task(name=RUN_TASK)
def run(run_id: str) -> dict[str, Any]:
    """Carries out the recorded run `run_id` on this node; the full result goes to its record."""
    return node_context().executor.execute(run_id)
