"""greenbar's REST API: the Flask app factory, its composition root."""

import logging
import os
import subprocess
from pathlib import Path
from typing import Any

from flask import Flask

from app import logs
from app.config import Settings, warn_of_unknown_variables
from app.config_rules import open_to_all, reached_on
from app.images.builds import Builds
from app.images.fan_out import PullFanOut
from app.jobs.submission import Jobs, Send
from app.wiring import for_web
from web import (
    builds,
    colours,
    cyber_dojo,
    errors,
    health,
    metrics,
    nodes,
    openapi,
    runs,
    tracks,
)
from web.edge import BodyDeadline
from web.services import Services

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, send: Send | None = None) -> Flask:
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
    externals, stores = for_web(settings)
    send = send or _celery_sender(settings)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.request_max_kib * 1024
    app.wsgi_app = BodyDeadline(  # type: ignore[method-assign]
        app.wsgi_app, settings.body_read_seconds, app.config["MAX_CONTENT_LENGTH"]
    )
    app.extensions["greenbar"] = Services(
        settings=settings,
        stores=stores,
        jobs=Jobs(stores, settings, send),
        fan_out=PullFanOut(stores, settings, send),
        builds=Builds(stores, settings, send),
        send=send,
        redis=externals.redis,
        sha=_sha(),
    )
    app.register_blueprint(runs.blueprint)
    app.register_blueprint(builds.blueprint)
    app.register_blueprint(colours.blueprint)
    app.register_blueprint(nodes.blueprint)
    app.register_blueprint(tracks.blueprint)
    app.register_blueprint(metrics.blueprint)
    app.register_blueprint(openapi.blueprint)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(cyber_dojo.blueprint)
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


def _celery_sender(settings: Settings) -> Send:
    from tasks.celery_app import create_celery

    celery = create_celery(settings)

    def send(task: str, args: list[Any], queue: str | None) -> None:
        # Without a queue, app.jobs.queues.ROUTES decides.
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
