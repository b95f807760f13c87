"""POST /runs and GET /runs/<id>."""

from flask import Blueprint, Response

from app.errors import Busy
from app.routing import route_run
from tasks.queues import RUN_TASK, queue_of
from web.auth import requires
from web.jobs import fetch, json_body, submit
from web.schemas import run_request
from web.services import services

blueprint = Blueprint("runs", __name__)


@blueprint.post("/runs")
@requires("client")
def create_run() -> tuple[Response, int, dict[str, str]]:
    s = services()
    run = run_request(json_body(), s.settings, s.allowlist, s.tracks)
    queue = queue_of(route_run(run.get("kata"), run.get("track"), s.katas, s.registry.live()))
    waiting = s.depth.depth(queue)
    if s.settings.queue_max_waiting and waiting >= s.settings.queue_max_waiting:
        raise Busy(f"{waiting} runs are waiting in {queue} already", s.settings.retry_after_seconds)
    return submit(s.runs, RUN_TASK, run, "runs.get_run", queue)


@blueprint.get("/runs/<job_id>")
@requires("client")
def get_run(job_id: str) -> tuple[Response, int]:
    return fetch(services().runs, job_id)
