"""What POST /runs and POST /colours share, in HTTP: the wait, the status, the Location."""

from flask import Response, g, jsonify, request, url_for

from app.errors import InvalidParameter
from app.jobs.records import JobStore, JobView, R
from web.schemas import wait_seconds
from web.services import services


def answer_submitted(
    store: JobStore[R], queued: JobView, endpoint: str
) -> tuple[Response, int, dict[str, str]]:
    """200 with the job if it ends within ?wait, else 202 with it as it stands (without a
    wait: as recorded, queued), and its Location either way."""
    s = services()
    wait = wait_seconds(request.args, s.settings)
    view = s.jobs.settled(store, store.wait(queued.id, wait)) if wait > 0 else queued
    location = url_for(endpoint, job_id=queued.id)
    return jsonify(view.to_wire()), 200 if view.final else 202, {"Location": location}


def answer_read(store: JobStore[R], job_id: str) -> tuple[Response, int]:
    """The job as it stands after waiting up to ?wait seconds for it to end; 404 to anyone but
    its client and admins."""
    s = services()
    wait = wait_seconds(request.args, s.settings)
    view = s.jobs.read(store, job_id, g.client, g.role == "admin", wait)
    return jsonify(view.to_wire()), 200


def json_body() -> object:
    """The request's JSON body; 415 unless the content type is JSON, 400 if malformed.

    Raises:
        InvalidParameter: nested deeper than the parser recurses (about a thousand levels;
            the request schemas refuse anything deeper than they describe, naming the field).
    """
    try:
        return request.get_json()
    except RecursionError:
        raise InvalidParameter("body", "JSON nested too deep to parse") from None
