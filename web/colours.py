"""POST /colours and GET /colours/<id>: a traffic light for outputs the client already has."""

from flask import Blueprint, Response

from app.errors import ServiceUnavailable
from tasks.queues import COLOUR_TASK, SHARED_QUEUE
from web.auth import requires
from web.jobs import fetch, json_body, submit
from web.schemas import colour_request
from web.services import services

blueprint = Blueprint("colours", __name__)


@blueprint.post("/colours")
@requires("client")
def create_colour() -> tuple[Response, int, dict[str, str]]:
    s = services()
    colour = colour_request(json_body(), s.settings, s.allowlist)
    if not s.registry.live():
        raise ServiceUnavailable("no live worker can colour outputs")
    with s.admission.admitted(SHARED_QUEUE, "colours and other jobs"):
        return submit(s.colours, COLOUR_TASK, colour, "colours.get_colour")


@blueprint.get("/colours/<job_id>")
@requires("client")
def get_colour(job_id: str) -> tuple[Response, int]:
    return fetch(services().colours, job_id)
