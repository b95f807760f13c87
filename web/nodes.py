"""GET /nodes, POST /pulls and GET /pulls/<id>."""

from flask import Blueprint, Response, jsonify, url_for

from app.errors import UnknownJob
from app.jobs.queues import PRUNE_TASK, node_queue
from app.jobs.submission import JOB_ID
from web.auth import requires
from web.jobs import json_body
from web.schemas import image_request
from web.services import services

blueprint = Blueprint("nodes", __name__)


@blueprint.get("/nodes")
@requires("client")
def list_nodes() -> Response:
    """Live nodes: their workers, whether Docker answers, and the images each holds."""
    return jsonify({"nodes": services().stores.registry.nodes()})


@blueprint.post("/pulls")
@requires("admin")
def create_pull() -> tuple[Response, int, dict[str, str]] | tuple[Response, int]:
    """Sends one pull of an allowlisted image to every live node."""
    s = services()
    pull = s.fan_out.start(image_request(json_body(), s.settings, s.stores.allowlist))
    if pull["state"] == "disabled":
        return jsonify(pull), 200
    return jsonify(pull), 202, {"Location": url_for("nodes.get_pull", pull_id=pull["id"])}


@blueprint.get("/pulls/<pull_id>")
@requires("admin")
def get_pull(pull_id: str) -> tuple[Response, int]:
    if not JOB_ID.fullmatch(pull_id):
        raise UnknownJob("pull", pull_id)
    return jsonify(services().stores.pulls.get(pull_id)), 200


@blueprint.post("/prunes")
@requires("admin")
def prune_now() -> tuple[Response, int]:
    """Sends a prune to every live node now, as the beat's hourly prune does."""
    s = services()
    nodes = sorted(s.stores.registry.nodes())
    for node in nodes:
        s.send(PRUNE_TASK, [], node_queue(node))
    return jsonify({"nodes": nodes, "state": "sent"}), 202
