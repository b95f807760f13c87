"""Entry point for `celery -A tasks.worker worker|beat|flower`.

On start a worker reaps containers a dead worker left behind, starts its heartbeat (which also
tells which allowed images its node holds and which tracks it serves), and asks its node to
pull the images it will need: a scoped worker only its tracks' live images.
"""

import logging
import os

from celery.signals import setup_logging, worker_ready, worker_shutdown

from app import logs
from app.cluster.heartbeat import HeartbeatThread
from app.config import Settings, warn_of_unknown_variables
from app.errors import GreenbarError
from app.jobs.queues import PULL_TASK, node_queue
from app.sandbox.pool import PoolKeeper
from app.wiring import NodeContext
from tasks.celery_app import create_celery
from tasks.node import node_context

log = logging.getLogger(__name__)

celery = create_celery(Settings.from_env(os.environ))
_heartbeats: list[HeartbeatThread] = []
_keepers: list[PoolKeeper] = []


@setup_logging.connect
def _json_logs(loglevel: str | int | None = None, **_: object) -> None:
    # Connected, this replaces Celery's own logging set-up: its lines become JSON too.
    logs.configure(loglevel or "INFO")
    warn_of_unknown_variables(os.environ)  # once per worker or beat, as it starts


@worker_ready.connect
def _on_ready(sender: object, **_: object) -> None:
    context = node_context()
    reaped = context.reaper.reap() + context.reaper.reap_volumes()
    if reaped:
        log.warning(
            "reaped %d containers and volumes left by a dead worker: %s", len(reaped), reaped
        )
    name = str(getattr(sender, "hostname", context.settings.node))
    _ensure_evaluator(context)  # before the heartbeat: a live worker can colour
    heartbeat = context.heartbeat(name)
    heartbeat.start()
    _heartbeats.append(heartbeat)
    if context.settings.pulls_enabled:
        for image in context.wanted_images():
            celery.send_task(PULL_TASK, args=[image, None], queue=node_queue(context.settings.node))
    keeper = context.pool_keeper(name)
    if keeper is not None:
        keeper.start()
        _keepers.append(keeper)


def _ensure_evaluator(context: NodeContext) -> None:
    """Pulls the evaluator image (where rag lambdas run) if the node lacks it and pulls are
    enabled; a failure is logged, and colours say the image is missing until it is there."""
    image = context.settings.evaluator_image
    if not context.settings.pulls_enabled or context.images.held([image]):
        return
    try:
        context.images.pull(image, lambda event: None)
    except GreenbarError as error:
        log.error("could not pull the evaluator image %s: %s", image, error)


@worker_shutdown.connect
def _on_shutdown(**_: object) -> None:
    for keeper in _keepers:
        keeper.stop()
    for heartbeat in _heartbeats:
        heartbeat.stop()
