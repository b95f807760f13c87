"""PUT /tracks/<slug> (deploy a version) and GET /tracks."""

from flask import Blueprint, Response, jsonify

from app.errors import ServiceUnavailable
from app.images.tracks import checked_slug
from web.auth import requires
from web.jobs import json_body
from web.schemas import image_request
from web.services import services

blueprint = Blueprint("tracks", __name__)


@blueprint.put("/tracks/<slug>")
@requires("admin")
def deploy(slug: str) -> tuple[Response, int]:
    """Makes an allowlisted image the track's live version and starts pulling it everywhere."""
    s = services()
    image = image_request(json_body(), s.settings, s.stores.allowlist)
    track = s.stores.tracks.deploy(checked_slug(slug, "slug"), image)
    try:
        pull = s.fan_out.start(image)
    except ServiceUnavailable as error:  # deployed all the same: nodes pull it when they start
        pull = {"image": image, "state": "not started", "message": str(error)}
    return jsonify({"track": slug, **track, "pull": pull}), 200


@blueprint.get("/tracks")
@requires("client")
def list_tracks() -> Response:
    """Every track with its live image, its versions, and the live nodes holding that image."""
    s = services()
    nodes = s.stores.registry.nodes()
    shown = {
        slug: {
            **track,
            "nodes": sorted(
                name
                for name, node in nodes.items()
                if any(i["image"] == track["image"] for i in node["images"])
            ),
        }
        for slug, track in s.stores.tracks.all().items()
    }
    return jsonify({"tracks": shown})
