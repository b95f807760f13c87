"""GET /alive, /ready and /sha. Each answer also carries cyber-dojo's runner key (`alive?`,
`ready?`, `sha`), so cyber-dojo's clients, which ask for `/alive?` (an empty query on
/alive), read them too (web/cyber_dojo.py)."""

from flask import Blueprint, Response, jsonify

from app.cluster.workers import Heartbeat
from app.errors import StoreUnavailable
from app.externals.store import translated
from web.services import services

blueprint = Blueprint("health", __name__)


@blueprint.get("/alive")
def alive() -> Response:
    return jsonify({"alive": True, "alive?": True})


@blueprint.get("/ready")
def ready() -> tuple[Response, int]:
    """Ready when Redis answers and a live worker says its Docker engine answers."""
    s = services()
    missing = []
    workers: list[Heartbeat] = []
    try:
        with translated():
            s.redis.ping()
        workers = s.stores.registry.live()
    except StoreUnavailable:
        missing.append("redis")
    if "redis" not in missing and not workers:
        missing.append("worker")
    if workers and not any(w.docker for w in workers):
        missing.append("docker")
    body = {
        "ready": not missing,
        "ready?": not missing,
        "missing": missing,
        "workers": [w.to_wire() for w in workers],
    }
    return jsonify(body), 503 if missing else 200


@blueprint.get("/sha")
def sha() -> Response:
    return jsonify({"sha": services().sha})
