"""cyber-dojo's runner API beside greenbar's own, so a cyber-dojo web service can point at
greenbar: POST (or GET, as cyber-dojo's web sends it, with a JSON body) /run_cyber_dojo_sh and
/pull_image. GET /alive, /ready and /sha are web/health.py's: their answers carry cyber-dojo's
keys too (its client asks for `/alive?`, an empty query on /alive).

Answers are keyed on the method's name; errors are cyber-dojo's `{"exception": {...}}` with
greenbar's status codes and the field and rule broken. Authentication is greenbar's: see
`requires` (an open deployment needs none; with tokens, something in front of greenbar must add
cyber-dojo's, which its web service cannot send).
"""

import logging
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from app.errors import ServiceUnavailable
from app.jobs import cyber_dojo
from app.logs import event
from web import errors
from web.auth import requires
from web.conform import conform
from web.contract import request_schemas
from web.jobs import json_body
from web.services import services

log = logging.getLogger(__name__)
blueprint = Blueprint("cyber_dojo", __name__)
ECHOED_BODY_CHARS = 1024  # of the request, in an exception, as cyber-dojo's runner echoes it
METHODS = ["GET", "POST"]  # cyber-dojo's runner answers either; its web service GETs a run


@blueprint.route("/run_cyber_dojo_sh", methods=METHODS)
@requires("client")
def run_cyber_dojo_sh() -> Response:
    """Runs the files and answers once the run has ended, within max_seconds and a margin."""
    s = services()
    body = conform(json_body(), request_schemas(s.settings)["CyberDojoRun"])
    asked = cyber_dojo.run_request(body, s.settings, s.stores.allowlist)
    queued = s.jobs.submit_run(asked.run, g.client)
    event(log, "cyber_dojo.run", id=asked.id, run_id=queued.id, image=asked.run.image)
    view = s.jobs.read(s.stores.runs, queued.id, g.client, False, asked.wait_seconds)
    if not view.final:
        raise ServiceUnavailable(
            f"run {view.id} did not end within {asked.wait_seconds} s (it is {view.state})"
        )
    return jsonify({"run_cyber_dojo_sh": cyber_dojo.answer(view)})


@blueprint.route("/pull_image", methods=METHODS)
@requires("client")
def pull_image() -> Response:
    """`pulled` when every live node holds the allowlisted image, else `pulling` (a pull has
    been sent to every live node)."""
    s = services()
    body = conform(json_body(), request_schemas(s.settings)["CyberDojoPull"])
    image = cyber_dojo.allowed(body["image_name"], s.stores.allowlist, "image_name")
    if cyber_dojo.pulled(image, s.stores.registry.nodes()):
        return jsonify({"pull_image": "pulled"})
    started = s.fan_out.start(image)
    if started["state"] == "disabled":
        raise ServiceUnavailable(f"image {image} is not on every node and {started['message']}")
    return jsonify({"pull_image": "pulling"})


@blueprint.errorhandler(Exception)
def _exception(error: Exception) -> Any:
    """greenbar's answer to `error` (status, headers, message, field and rule), told in
    cyber-dojo's shape, whose web service looks for the key `exception`."""
    response, status, *headers = errors.answer(error)
    said = response.get_json()["error"]
    told = {"path": request.path, "body": _echoed(), "class": "greenbar", **said}
    return (jsonify({"exception": told}), status, *headers)


def _echoed() -> str:
    if (request.content_length or 0) > (request.max_content_length or 0):
        return ""  # too large to read (413)
    return request.get_data(as_text=True)[:ECHOED_BODY_CHARS]
