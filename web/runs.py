"""POST /runs and GET /runs/<id>."""

from flask import Blueprint, Response

from app.routing import route_run
from tasks.queues import RUN_TASK, queue_of
from web.jobs import fetch, json_body, submit
from web.schemas import run_request
from web.services import services

blueprint = Blueprint("runs", __name__)


@blueprint.post("/runs")
def create_run() -> tuple[Response, int, dict[str, str]]:
    s = services()
    run = run_request(json_body(), s.settings, s.allowlist, s.tracks)
    route = route_run(run.get("kata"), run.get("track"), s.katas, s.registry.live())
    return submit(s.runs, RUN_TASK, run, "runs.get_run", queue_of(route))


@blueprint.get("/runs/<job_id>")
def get_run(job_id: str) -> tuple[Response, int]:
    return fetch(services().runs, job_id)
