"""POST /runs and GET /runs/<id>."""

import secrets

from flask import Blueprint, Response, jsonify, request, url_for

from app.errors import ServiceUnavailable
from app.runs import FINAL
from web.schemas import run_request, wait_seconds
from web.services import services

blueprint = Blueprint("runs", __name__)


@blueprint.post("/runs")
def create_run() -> tuple[Response, int, dict[str, str]]:
    s = services()
    wait = wait_seconds(request.args, s.settings)
    run = run_request(json_body(), s.settings, s.allowlist)
    run_id = secrets.token_hex(16)
    s.store.enqueue(run_id, run)
    try:
        s.enqueue(run_id)
    except Exception as error:  # the broker refused: the record must not say "queued" forever
        s.store.fail(run_id, f"could not be queued: {error}")
        raise ServiceUnavailable(f"the run queue is unavailable: {error}") from error
    view = s.store.wait(run_id, wait)
    location = url_for("runs.get_run", run_id=run_id)
    return jsonify(view), 200 if view["state"] in FINAL else 202, {"Location": location}


@blueprint.get("/runs/<run_id>")
def get_run(run_id: str) -> tuple[Response, int]:
    s = services()
    view = s.store.wait(run_id, wait_seconds(request.args, s.settings))
    return jsonify(view), 200


def json_body() -> object:
    """The request's JSON body; 415 unless the content type is JSON, 400 if malformed."""
    return request.get_json()
