"""POST /builds and GET /builds/<id>: a track's image built from its repository (admins)."""

from flask import Blueprint, Response, jsonify, url_for

from app.errors import UnknownJob
from app.jobs.submission import JOB_ID
from web.auth import requires
from web.jobs import json_body
from web.schemas import build_request
from web.services import services

blueprint = Blueprint("builds", __name__)


@blueprint.post("/builds")
@requires("admin")
def create_build() -> tuple[Response, int, dict[str, str]]:
    s = services()
    track, reference = build_request(json_body(), s.settings)
    build = s.builds.start(track, reference)
    location = url_for("builds.get_build", build_id=build.id)
    return jsonify(build.to_wire()), 202, {"Location": location}


@blueprint.get("/builds/<build_id>")
@requires("admin")
def get_build(build_id: str) -> tuple[Response, int]:
    if not JOB_ID.fullmatch(build_id):
        raise UnknownJob("build", build_id)
    return jsonify(services().stores.builds.get(build_id).to_wire()), 200
