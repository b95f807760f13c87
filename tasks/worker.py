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
from app.sandbox.pool import PoolKeeper
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
    context.ensure_evaluator()  # before the heartbeat: a live worker can colour
    heartbeat = context.heartbeat(name)
    heartbeat.start()
    _heartbeats.append(heartbeat)
    context.fan_out.prepull()
    keeper = context.pool_keeper(name)
    if keeper is not None:
        keeper.start()
        _keepers.append(keeper)


@worker_shutdown.connect
def _on_shutdown(**_: object) -> None:
    for keeper in _keepers:
        keeper.stop()
    for heartbeat in _heartbeats:
        heartbeat.stop()
