"""Operations on the real stack: bearer tokens, back-pressure, metrics and JSON logs."""

import dataclasses
import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from app.cluster.workers import WorkerRegistry
from app.config import Settings
from app.logs import JsonFormatter
from tests.helpers import run, wait_until
from web import create_app

ECHO = {"image": "greenbar/busybox-sh", "files": {"cyber-dojo.sh": "echo hi"}}
CLIENT, ADMIN = "client-token-1", "admin-token-1"


@pytest.fixture(scope="module")
def guarded(settings: Settings, worker: Any) -> Any:
    tokens = dataclasses.replace(
        settings, client_tokens=(CLIENT,), admin_tokens=(ADMIN,), pulls_enabled=False
    )
    return create_app(tokens).test_client()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("wrong"), {"Authorization": CLIENT}, {"Authorization": f"Basic {CLIENT}"}],
)
def test_without_a_valid_token_a_run_is_401(guarded: Any, headers: dict[str, str]) -> None:
    response = guarded.post("/runs", json=ECHO, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert guarded.get("/runs/x", headers=headers).status_code == 401


def test_a_client_token_may_run_and_colour(guarded: Any) -> None:
    response = guarded.post("/runs?wait=20", json=ECHO, headers=bearer(CLIENT))
    assert response.status_code == 200
    assert response.get_json()["result"]["stdout"]["content"] == "hi\n"
    colour = {"image": "greenbar/busybox-sh", "stdout": "PASSED", "stderr": "", "status": 0}
    assert guarded.post("/colours", json=colour, headers=bearer(CLIENT)).status_code == 202


def test_an_admin_token_may_do_what_a_client_may(guarded: Any) -> None:
    assert guarded.post("/runs", json=ECHO, headers=bearer(ADMIN)).status_code == 202


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/pulls", {"image": "greenbar/busybox-sh"}),
        ("get", "/pulls/x", None),
        ("put", "/tracks/python", {"image": "greenbar/python-pytest"}),
        ("post", "/prunes", None),
    ],
)
def test_admin_routes_are_403_with_a_client_token_and_401_without_one(
    guarded: Any, method: str, path: str, body: Any
) -> None:
    call = getattr(guarded, method)
    assert call(path, json=body, headers=bearer(CLIENT)).status_code == 403
    assert call(path, json=body).status_code == 401


def test_an_admin_token_may_pull_and_deploy(guarded: Any) -> None:
    pull = guarded.post("/pulls", json={"image": "greenbar/busybox-sh"}, headers=bearer(ADMIN))
    assert (pull.status_code, pull.get_json()["state"]) == (200, "disabled")
    body = {"image": "greenbar/busybox-sh"}
    assert guarded.put("/tracks/busybox", json=body, headers=bearer(ADMIN)).status_code == 200


def test_health_metrics_and_the_description_need_no_token(guarded: Any) -> None:
    for path in ("/alive", "/ready", "/sha", "/metrics"):
        assert guarded.get(path).status_code == 200, path


def test_no_token_is_ever_logged(guarded: Any) -> None:
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    try:
        guarded.post("/runs?wait=20", json=ECHO, headers=bearer(CLIENT))
        guarded.post("/runs", json=ECHO, headers=bearer("not-a-token-at-all"))
    finally:
        logging.getLogger().removeHandler(handler)
    assert "run.queued" in captured.getvalue()
    assert CLIENT not in captured.getvalue()
    assert "not-a-token-at-all" not in captured.getvalue()


# Back-pressure: a Redis database of its own, where a live generic worker is announced but
# nothing consumes, so runs pile up for real.


@pytest.fixture
def stalled(settings: Settings) -> Any:
    url = settings.redis_url.rsplit("/", 1)[0] + "/9"
    client = redis.Redis.from_url(url)
    WorkerRegistry(client, 60).beat("nobody@nowhere", "nowhere", True)
    yield create_app(dataclasses.replace(settings, redis_url=url, queue_max_waiting=2))
    client.flushdb()


def test_a_full_run_queue_answers_503_with_retry_after_instead_of_growing(stalled: Any) -> None:
    api = stalled.test_client()
    assert [api.post("/runs", json=ECHO).status_code for _ in range(2)] == [202, 202]
    refused = api.post("/runs", json=ECHO)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "5"
    assert "greenbar.runs" in refused.get_json()["error"]["message"]


# Metrics.


def metric_samples(api: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for s in family.samples
    }


def test_metrics_count_runs_by_outcome_with_durations_queues_and_the_rag_cache(api: Any) -> None:
    before = metric_samples(api)
    red = run(api, {"cyber-dojo.sh": "sh ./test_hiker.sh", "test_hiker.sh": "echo FAILED:; exit 1"})
    assert red["outcome"] == "red"
    after = metric_samples(api)
    key = ("greenbar_runs_total", (("outcome", "red"),))
    assert after[key] == before.get(key, 0) + 1
    count = ("greenbar_run_duration_seconds_count", ())
    assert after[count] >= before.get(count, 0) + 1
    assert ("greenbar_run_duration_seconds_bucket", (("le", "+Inf"),)) in after
    assert ("greenbar_queue_depth", (("queue", "greenbar.runs"),)) in after
    hits = ("greenbar_rag_cache_total", (("result", "hit"),))
    assert after[hits] >= before.get(hits, 0) + 1


# JSON logs: one run followed from web to worker by its id.


def test_a_run_can_be_followed_from_web_to_worker_in_json_lines(api: Any, worker_log: Path) -> None:
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    try:
        response = api.post("/runs?wait=20", json=ECHO)
    finally:
        logging.getLogger().removeHandler(handler)
    run_id = response.get_json()["id"]
    web = [json.loads(line) for line in captured.getvalue().splitlines()]
    queued = [e for e in web if e.get("run_id") == run_id]
    assert queued[0]["event"] == "run.queued"
    assert queued[0]["image"] == "greenbar/busybox-sh"

    def mine() -> dict[str, Any]:
        lines = worker_log.read_text().splitlines()
        events = [json.loads(line) for line in lines if line.startswith("{")]
        return {e["event"]: e for e in events if e.get("run_id") == run_id}

    # The result is recorded before the worker writes its last line: allow it a moment.
    wait_until(lambda: "run.finished" in mine(), 10, "the worker's run.finished line")
    events = mine()
    assert "run.started" in events
    finished = events["run.finished"]
    assert (finished["node"], finished["outcome"]) == ("test-node", "amber")
    assert isinstance(finished["duration_ms"], int)
