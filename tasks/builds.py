"""The build task: a builder worker builds and pushes a recorded build."""

from typing import Any

from celery import shared_task

from app.jobs.queues import BUILD_TASK
from tasks.node import node_context


@shared_task(name=BUILD_TASK)
def build(build_id: str) -> dict[str, Any]:
    """Builds the recorded build `build_id` on this node and pushes it; its record tells how."""
    return node_context().builder.build(build_id).to_wire()
