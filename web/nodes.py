"""GET /nodes, POST /pulls and GET /pulls/<id>."""

from contextlib import ExitStack
from typing import Any

from flask import Blueprint, Response, jsonify, url_for

from app.errors import ServiceUnavailable, UnknownJob
from app.jobs.queues import PRUNE_TASK, PULL_TASK, node_queue
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
    pull = start_pull(image_request(json_body(), services().settings, services().stores.allowlist))
    if pull["state"] == "disabled":
        return jsonify(pull), 200
    return jsonify(pull), 202, {"Location": url_for("nodes.get_pull", pull_id=pull["id"])}


def start_pull(image: str) -> dict[str, Any]:
    """Sends a pull of `image` to every live node; returns the pull's record, or a
    `disabled` state when pulls are disabled.

    Raises:
        ServiceUnavailable: no node is live.
    """
    s = services()
    if not s.settings.pulls_enabled:
        said = "pulls are disabled on this deployment (GREENBAR_PULLS_ENABLED=false)"
        return {"image": image, "state": "disabled", "message": said}
    nodes = sorted(s.stores.registry.nodes())
    if not nodes:
        raise ServiceUnavailable("no live node to pull onto")
    with ExitStack() as places:  # every node's queue takes it, or none is sent
        for node in nodes:
            places.enter_context(s.stores.admission.admitted(node_queue(node), "jobs"))
        pull_id = s.stores.pulls.fan_out(
            image, nodes, lambda i, p, node: s.send(PULL_TASK, [i, p], node_queue(node))
        )
    return {**s.stores.pulls.get(pull_id), "state": "pulling"}


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
