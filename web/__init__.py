"""greenbar's REST API: the Flask app factory, its composition root."""

import logging
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask

from app import logs
from app.cluster.metrics import Metrics
from app.cluster.workers import WorkerRegistry
from app.config import Settings, warn_of_unknown_variables
from app.config_rules import open_to_all, reached_on
from app.externals import clock
from app.externals.end_notices import EndNotices
from app.externals.store import connect
from app.images.allowlist import Allowlist
from app.images.pull_records import PullStore
from app.images.tracks import TrackStore
from app.jobs.admission import Admission
from app.jobs.queue_depth import QueueDepth
from app.jobs.records import RunStore
from app.katas.records import KataStore
from web import colours, errors, health, metrics, nodes, openapi, runs, tracks
from web.edge import BodyDeadline
from web.services import Services

log = logging.getLogger(__name__)
HEARTBEAT_TTL_SECONDS = 15
# Redis connections a web process may hold: its many green requests take turns on them
# rather than each opening one (a thousand long polls would otherwise be a thousand sockets).
REDIS_CONNECTIONS = 64
Sender = Callable[[str, list[Any], str | None], None]


def create_app(settings: Settings | None = None, send: Sender | None = None) -> Flask:
    """The API for `settings` (default: from the environment).

    Args:
        settings: the deployment's configuration.
        send: sends (task name, arguments, queue or None) to the workers; default: Celery.
    """
    logs.configure()
    if settings is None:
        settings = Settings.from_env(os.environ)
        warn_of_unknown_variables(os.environ)
    _warn_if_open(settings)
    client = connect(settings.redis_url, REDIS_CONNECTIONS)
    notices = EndNotices(client)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.request_max_kib * 1024
    app.wsgi_app = BodyDeadline(  # type: ignore[method-assign]
        app.wsgi_app, settings.body_read_seconds, app.config["MAX_CONTENT_LENGTH"]
    )
    app.extensions["greenbar"] = Services(
        settings=settings,
        runs=RunStore(client, settings.result_ttl_seconds, clock.wall, "run", notices=notices),
        colours=RunStore(
            client, settings.result_ttl_seconds, clock.wall, "colour", notices=notices
        ),
        registry=WorkerRegistry(client, HEARTBEAT_TTL_SECONDS, clock.wall),
        allowlist=Allowlist(settings.images),
        katas=KataStore(client, int(settings.kata_unused_hours * 3600 * 2), clock.wall),
        pulls=PullStore(client, settings.result_ttl_seconds, clock.wall),
        tracks=TrackStore(client, clock.wall),
        depth=QueueDepth(client),
        admission=Admission(client, settings.queue_max_waiting, settings.retry_after_seconds),
        metrics=Metrics(client),
        send=send or _celery_sender(settings),
        redis=client,
        sha=_sha(),
    )
    app.register_blueprint(runs.blueprint)
    app.register_blueprint(colours.blueprint)
    app.register_blueprint(nodes.blueprint)
    app.register_blueprint(tracks.blueprint)
    app.register_blueprint(metrics.blueprint)
    app.register_blueprint(openapi.blueprint)
    app.register_blueprint(health.blueprint)
    errors.register(app)
    return app


def _warn_if_open(settings: Settings) -> None:
    """Settings refuse an open API beyond loopback unless GREENBAR_INSECURE_OPEN asks for it;
    when it does, each start says so."""
    if open_to_all(settings):
        log.warning(
            "GREENBAR_INSECURE_OPEN: the API is reached on %s with no tokens: anyone who can"
            " reach it can run programs and use the admin routes",
            reached_on(settings)[0],
        )


def _celery_sender(settings: Settings) -> Sender:
    from tasks.celery_app import create_celery

    celery = create_celery(settings)

    def send(task: str, args: list[Any], queue: str | None) -> None:
        # Without a queue, tasks.queues.ROUTES decides.
        celery.send_task(task, args=args, **({"queue": queue} if queue else {}))

    return send


def _sha() -> str:
    if sha := os.environ.get("GREENBAR_SHA"):
        return sha
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
