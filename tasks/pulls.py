"""Pull tasks: one node pulls an image; the beat's fan-out sends one to every live node."""

from typing import Any

from celery import shared_task

from app.jobs.queues import PULL_TASK, SCHEDULE_PULLS_TASK
from tasks.node import node_context


@shared_task(name=PULL_TASK)
def pull(image: str, pull_id: str | None) -> dict[str, Any]:
    """Pulls `image` onto this node, recording progress under `pull_id` (if any)."""
    return dict(node_context().node_pulls.pull(image, pull_id))


@shared_task(name=SCHEDULE_PULLS_TASK)
def schedule_pulls() -> dict[str, Any]:
    """Sends a pull of every allowlisted image to every live node, once per period."""
    return node_context().fan_out.schedule()
