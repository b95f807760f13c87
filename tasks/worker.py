"""Entry point for `celery -A tasks.worker worker|beat|flower`.

On start a worker reaps containers a dead worker left behind, starts its heartbeat (which also
tells which allowed images its node holds and which tracks it serves), and asks its node to
pull the images it will need: a scoped worker only its tracks' live images.
"""

import logging
import os

from celery.signals import setup_logging, worker_ready, worker_shutdown

from app import logs
from app.cluster.heartbeat import Heartbeat
from app.config import Settings, warn_of_unknown_variables
from app.errors import GreenbarError
from app.externals.engine import Engine
from app.images.tracks import concrete, to_prepull
from app.sandbox.pool import PoolKeeper, WarmPool
from app.sandbox.supervisor import SupervisorVolume
from app.sandbox.uids import UidAllocator
from app.wiring import HEARTBEAT_SECONDS, NodeContext
from tasks.celery_app import create_celery
from tasks.node import node_context
from tasks.queues import PULL_TASK, node_queue

log = logging.getLogger(__name__)

celery = create_celery(Settings.from_env(os.environ))
_heartbeats: list[Heartbeat] = []
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
    settings = context.settings
    _ensure_evaluator(context)  # before the heartbeat: a live worker can colour
    heartbeat = Heartbeat(
        context.registry,
        context.engine,
        lambda: context.images.held([*concrete(settings.images), *context.tracks.images()]),
        name,
        settings.node,
        HEARTBEAT_SECONDS,
        settings.tracks,
    )
    heartbeat.start()
    _heartbeats.append(heartbeat)
    if settings.pulls_enabled:
        for image in to_prepull(settings.images, settings.tracks, context.tracks):
            celery.send_task(PULL_TASK, args=[image, None], queue=node_queue(settings.node))
    if settings.pool_size > 0:
        engine = Engine.from_env()  # the keeper's own: docker-py clients are not shared
        keeper = PoolKeeper(
            WarmPool(context.redis, name),
            engine,
            settings,
            lambda: to_prepull(settings.images, settings.tracks, context.tracks),
            SupervisorVolume(engine, context.redis, settings),
            UidAllocator(context.redis, settings.node, settings.uid_base, settings.uid_count),
        )
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
