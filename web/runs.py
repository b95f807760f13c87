"""POST /runs and GET /runs/<id>."""

from flask import Blueprint, Response, request

from app.errors import KataBusy
from app.jobs.routing import route_run
from tasks.queues import RUN_TASK, queue_of
from web.auth import client_of, requires
from web.jobs import fetch, json_body, new_id, submit
from web.schemas import run_request
from web.services import services

blueprint = Blueprint("runs", __name__)


@blueprint.post("/runs")
@requires("client")
def create_run() -> tuple[Response, int, dict[str, str]]:
    s = services()
    run = run_request(json_body(), s.settings, s.allowlist, s.tracks)
    if "kata" in run:  # the client's kata of that name, not another client's
        run["kata_ref"] = s.katas.ref(client_of(request.headers.get("Authorization")), run["kata"])
    queue = queue_of(route_run(run.get("kata_ref"), run.get("track"), s.katas, s.registry.live()))
    run_id = new_id()
    with s.admission.admitted(queue, "runs"):
        if "kata_ref" not in run:
            return submit(s.runs, RUN_TASK, run, "runs.get_run", queue, run_id)
        claim = s.settings.visibility_timeout_seconds + s.settings.longest_run_seconds
        holder = s.katas.claim(run["kata_ref"], run_id, claim)
        if holder is not None:
            raise KataBusy(f"kata {run['kata']} has a run in progress ({holder}): one at a time")
        try:
            return submit(s.runs, RUN_TASK, run, "runs.get_run", queue, run_id)
        except Exception:
            s.katas.release(run["kata_ref"], run_id)
            raise


@blueprint.get("/runs/<job_id>")
@requires("client")
def get_run(job_id: str) -> tuple[Response, int]:
    return fetch(services().runs, job_id)
