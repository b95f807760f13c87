"""Prune tasks: one node prunes itself; the beat's fan-out sends one to every live node."""

from typing import Any

from celery import current_app, shared_task

from app.externals import clock
from app.jobs.queues import PRUNE_TASK, SCHEDULE_PRUNES_TASK, node_queue
from tasks.node import node_context


@shared_task(name=PRUNE_TASK)
def prune(now: float | None = None) -> dict[str, Any]:
    """Prunes this node as of `now` (seconds since the epoch; default: the clock)."""
    return node_context().pruner.prune(clock.wall() if now is None else now)


@shared_task(name=SCHEDULE_PRUNES_TASK)
def schedule_prunes() -> dict[str, Any]:
    """Sends a prune to every live node, once per period."""
    context = node_context()
    if not context.stores.periodic.claim("prunes", context.settings.prune_interval_minutes * 60):
        return {"state": "skipped", "message": "another beat sent this period's prunes"}
    nodes = sorted(context.stores.registry.nodes())
    for node in nodes:
        current_app.send_task(PRUNE_TASK, queue=node_queue(node))
    return {"state": "sent", "nodes": nodes}
