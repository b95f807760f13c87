"""Pull tasks: one node pulls an image; the beat's fan-out sends one to every live node."""

from typing import Any

from celery import current_app, shared_task

from app.images.tracks import to_prepull
from app.jobs.queues import PULL_TASK, SCHEDULE_PULLS_TASK, node_queue
from tasks.node import node_context


@shared_task(name=PULL_TASK)
def pull(image: str, pull_id: str | None) -> dict[str, Any]:
    """Pulls `image` onto this node, recording progress under `pull_id` (if any)."""
    return dict(node_context().node_pulls.pull(image, pull_id))


@shared_task(name=SCHEDULE_PULLS_TASK)
def schedule_pulls() -> dict[str, Any]:
    """Sends a pull of every allowlisted image to every live node, once per period."""
    context = node_context()
    settings = context.settings
    if not settings.pulls_enabled:
        return {"state": "disabled", "message": "pulls are disabled (GREENBAR_PULLS_ENABLED)"}
    if not context.stores.periodic.claim("pulls", settings.pull_interval_minutes * 60):
        return {"state": "skipped", "message": "another beat sent this period's pulls"}
    images = to_prepull(
        settings.images, (), context.stores.tracks
    )  # the allowlist's and every track's
    return {"state": "sent", "pulls": send_pulls(images, context.stores.registry.nodes())}


def send_pulls(images: Any, nodes: Any) -> dict[str, str]:
    """Records and sends one pull per image to each of `nodes`; returns image -> pull id."""
    pulls = node_context().stores.pulls
    return {image: pulls.fan_out(image, nodes, _send_pull) for image in images}


def _send_pull(image: str, pull_id: str, node: str) -> None:
    current_app.send_task(PULL_TASK, args=[image, pull_id], queue=node_queue(node))
