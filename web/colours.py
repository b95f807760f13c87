"""POST /colours and GET /colours/<id>: a traffic light for outputs the client already has."""

from flask import Blueprint, Response, g

from web.auth import requires
from web.jobs import answer_read, answer_submitted, json_body
from web.schemas import colour_request
from web.services import services

blueprint = Blueprint("colours", __name__)


@blueprint.post("/colours")
@requires("client")
def create_colour() -> tuple[Response, int, dict[str, str]]:
    s = services()
    asked = colour_request(json_body(), s.settings, s.stores.allowlist)
    queued = s.jobs.submit_colour(asked, g.client)
    return answer_submitted(s.stores.colours, queued, "colours.get_colour")


@blueprint.get("/colours/<job_id>")
@requires("client")
def get_colour(job_id: str) -> tuple[Response, int]:
    return answer_read(services().stores.colours, job_id)
