"""POST /runs and GET /runs/<id>."""

from flask import Blueprint, Response, g

from web.auth import requires
from web.jobs import answer_read, answer_submitted, json_body
from web.schemas import run_request
from web.services import services

blueprint = Blueprint("runs", __name__)


@blueprint.post("/runs")
@requires("client")
def create_run() -> tuple[Response, int, dict[str, str]]:
    s = services()
    asked = run_request(json_body(), s.settings, s.stores.allowlist, s.stores.tracks)
    queued = s.jobs.submit_run(asked, g.client)
    return answer_submitted(s.stores.runs, queued, "runs.get_run")


@blueprint.get("/runs/<job_id>")
@requires("client")
def get_run(job_id: str) -> tuple[Response, int]:
    return answer_read(services().stores.runs, job_id)
