"""What POST /runs and POST /colours share: record, send, optionally wait, answer."""

import logging
import re
from typing import Any

from flask import Response, g, jsonify, request, url_for

from app.errors import InvalidParameter, ServiceUnavailable, UnknownJob
from app.externals import ids
from app.jobs.records import FINAL, RunStore
from app.logs import event
from web.schemas import wait_seconds
from web.services import services

log = logging.getLogger(__name__)


JOB_ID = re.compile("[0-9a-f]{32}")  # what new_id makes; anything else names no job


def new_id() -> str:
    """A job id: 128 random bits, so no one guesses another's."""
    return ids.token(16)


def submit(
    store: RunStore,
    task: str,
    job: dict[str, Any],
    endpoint: str,
    queue: str | None = None,
    job_id: str | None = None,
) -> tuple[Response, int, dict[str, str]]:
    """Records `job` (under `job_id`, or a new id), sends `task` for it (to `queue`, or as
    routed), and answers 200 if it ends within ?wait, else 202."""
    s = services()
    wait = wait_seconds(request.args, s.settings)
    job_id = job_id or new_id()
    store.enqueue(job_id, job, g.client)
    queued = store.get(job_id)  # without ?wait the answer is what was recorded: queued
    try:
        s.send(task, [job_id], queue)
    except Exception as error:  # the broker refused: the record must not say "queued" forever
        store.fail(job_id, f"could not be queued: {error}")
        raise ServiceUnavailable(f"the queue is unavailable: {error}") from error
    event(
        log,
        f"{store.kind}.queued",
        **{f"{store.kind}_id": job_id},
        image=job["image"],
        track=job.get("track"),
        kata=job.get("kata"),
        queue=queue,
    )
    view = _settled(store, store.wait(job_id, wait)) if wait > 0 else queued
    location = url_for(endpoint, job_id=job_id)
    return jsonify(view), 200 if view["state"] in FINAL else 202, {"Location": location}


def fetch(store: RunStore, job_id: str) -> tuple[Response, int]:
    """The job as it stands, after waiting up to ?wait seconds for it to end. Only the client
    that created it (or an admin) may read it: to anyone else it does not exist (404).

    Raises:
        UnknownJob: no such job, or not this client's.
    """
    wait = wait_seconds(request.args, services().settings)
    owner = store.owner(job_id) if JOB_ID.fullmatch(job_id) else None
    if owner is None or (owner not in ("", g.client) and g.role != "admin"):
        raise UnknownJob(store.kind, job_id)
    return jsonify(_settled(store, store.wait(job_id, wait))), 200


def _settled(store: RunStore, view: dict[str, Any]) -> dict[str, Any]:
    """The view, closed in error if it is running on a worker that is no longer alive: a
    job is never left `running` by a worker killed outright."""
    worker = view.get("worker")
    if view["state"] != "running" or not worker:
        return view
    if any(w["worker"] == worker for w in services().registry.live()):
        return view
    store.fail(view["id"], f"the worker {worker} stopped while carrying it out")
    if store.kind == "run":
        _release_kata(store, view["id"])
    event(log, f"{store.kind}.error", **{f"{store.kind}_id": view["id"]}, worker=worker)
    return store.get(view["id"])


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


def _release_kata(store: RunStore, job_id: str) -> None:
    """Frees the kata of a run that ended without its worker (which would have freed it)."""
    asked = store.request(job_id)
    if asked is not None and "kata_ref" in asked:
        services().katas.release(asked["kata_ref"], job_id)
