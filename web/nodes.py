"""GET /nodes, POST /pulls and GET /pulls/<id>."""

import secrets

from flask import Blueprint, Response, jsonify, url_for

from app.errors import ServiceUnavailable
from tasks.queues import PULL_TASK, node_queue
from web.jobs import json_body
from web.schemas import pull_request
from web.services import services

blueprint = Blueprint("nodes", __name__)


@blueprint.get("/nodes")
def list_nodes() -> Response:
    """Live nodes: their workers, whether Docker answers, and the images each holds."""
    return jsonify({"nodes": services().registry.nodes()})


@blueprint.post("/pulls")
def create_pull() -> tuple[Response, int, dict[str, str]] | tuple[Response, int]:
    """Sends one pull of an allowlisted image to every live node."""
    s = services()
    image = pull_request(json_body(), s.allowlist)
    if not s.settings.pulls_enabled:
        said = "pulls are disabled on this deployment (GREENBAR_PULLS_ENABLED=false)"
        return jsonify({"image": image, "state": "disabled", "message": said}), 200
    nodes = sorted(s.registry.nodes())
    if not nodes:
        raise ServiceUnavailable("no live node to pull onto")
    pull_id = secrets.token_hex(16)
    s.pulls.create(pull_id, image, nodes)
    for node in nodes:
        s.send(PULL_TASK, [image, pull_id], node_queue(node))
    location = url_for("nodes.get_pull", pull_id=pull_id)
    return jsonify(s.pulls.get(pull_id)), 202, {"Location": location}


@blueprint.get("/pulls/<pull_id>")
def get_pull(pull_id: str) -> tuple[Response, int]:
    return jsonify(services().pulls.get(pull_id)), 200
