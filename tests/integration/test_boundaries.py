"""The service edge (issue 12): whose jobs a client may read, what malformed input gets, and
one admission rule for runs, colours and pulls. Each test failed before the fix it names."""

import dataclasses
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from app.cluster.workers import WorkerRegistry
from app.config import Settings
from web import create_app

ECHO = {"image": "greenbar/busybox-sh", "files": {"cyber-dojo.sh": "echo hi"}}
COLOUR = {"image": "greenbar/busybox-sh", "stdout": "PASSED", "stderr": "", "status": 0}
ALICE, BOB, ADMIN = "alice-token-1", "bob-token-1", "admin-token-2"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def tenants(settings: Settings, worker: Any) -> Any:
    tokens = dataclasses.replace(
        settings, client_tokens=(ALICE, BOB), admin_tokens=(ADMIN,), pulls_enabled=False
    )
    return create_app(tokens).test_client()


# Tenancy (finding 2: any run id read any learner's result, whoever asked).


@pytest.mark.parametrize(("path", "body"), [("/runs", ECHO), ("/colours", COLOUR)])
def test_a_job_is_visible_only_to_the_token_that_made_it_and_to_admins(tenants, path, body):
    made = tenants.post(f"{path}?wait=25", json=body, headers=bearer(ALICE))
    assert made.status_code == 200, made.get_json()
    job = made.get_json()["id"]
    assert tenants.get(f"{path}/{job}", headers=bearer(ALICE)).status_code == 200
    seen_by_bob = tenants.get(f"{path}/{job}?wait=1", headers=bearer(BOB))
    assert seen_by_bob.status_code == 404, "to another client the job does not exist"
    assert tenants.get(f"{path}/{job}", headers=bearer(ADMIN)).get_json()["state"] == "done"


def test_without_tokens_every_client_is_the_same_one(api):
    job = api.post("/runs", json=ECHO).get_json()["id"]
    assert api.get(f"/runs/{job}?wait=25", headers=bearer("anything")).status_code == 200


# Ids that are not ids (finding 5: `/runs/<id>:done` read another key: 503 WRONGTYPE).


@pytest.mark.parametrize("path", ["/runs/{id}:done", "/runs/{id}:request", "/colours/{id}:done"])
def test_a_job_key_that_is_not_a_job_id_is_404(api, path):
    job = api.post("/runs?wait=25", json=ECHO).get_json()["id"]
    response = api.get(path.format(id=job))
    assert response.status_code == 404, response.get_data(as_text=True)


@pytest.mark.parametrize("job", ["x", "0" * 31, "0" * 33, "G" * 32, "../" + "0" * 29])
def test_an_id_of_the_wrong_shape_is_404(api, job):
    assert api.get(f"/runs/{job}").status_code == 404
    assert api.get(f"/colours/{job}").status_code == 404


# Nesting (finding 5: JSON nested 100 000 deep was a 500).


def test_json_nested_a_hundred_thousand_deep_is_a_400_naming_the_body(api):
    deep = "[" * 100_000 + "]" * 100_000
    for path in ("/runs", "/colours", "/pulls"):
        response = api.post(path, data=deep, content_type="application/json")
        assert response.status_code == 400, (path, response.get_data(as_text=True))
        assert response.get_json()["error"]["field"] == "body"


def test_json_nested_deeper_than_a_request_is_refused_naming_the_field(api):
    response = api.post("/runs", json={**ECHO, "files": {"cyber-dojo.sh": [[["x"]]]}})
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "files[cyber-dojo.sh]"


# Patterns (finding 5: `$` let a trailing newline through, and Docker refused it later).


@pytest.mark.parametrize(
    ("field", "value"),
    [("kata", "abc\n"), ("track", "python\n"), ("version", "v1\n")],
)
def test_a_trailing_newline_breaks_a_pattern(api, field, value):
    body = {"files": ECHO["files"], field: value}
    body.update({} if field in ("track", "version") else {"image": ECHO["image"]})
    if field == "version":
        body["track"] = "python"
    response = api.post("/runs", json=body)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["error"]["field"] == field


# A lambda's odd output (finding 5: a client copy printing [] ended the run in `error`).


def test_a_client_lambda_that_prints_instead_of_answering_is_faulty_and_keeps_the_output(api):
    odd = "import sys\n\ndef colour(stdout, stderr, status):\n    print([])\n    sys.exit(0)\n"
    view = api.post(
        "/runs?wait=25",
        json={**ECHO, "files": {"cyber-dojo.sh": "echo kept"}, "rag_lambda": odd},
    ).get_json()
    assert view["state"] == "done", view
    assert view["result"]["outcome"] == "faulty"
    assert view["result"]["stdout"]["content"] == "kept\n"


# Admission (finding 4: colours unbounded, runs' check and enqueue not atomic).


@pytest.fixture
def stalled(settings: Settings) -> Iterator[Any]:
    """A Redis database of its own where a live generic worker is announced but nothing
    consumes, so jobs pile up for real; at most 5 may wait in a queue."""
    url = settings.redis_url.rsplit("/", 1)[0] + "/10"
    client = redis.Redis.from_url(url)
    WorkerRegistry(client, 60).beat("nobody@nowhere", "nowhere", True)
    limits = {"queue_max_waiting": 5, "pulls_enabled": True, "images": (ECHO["image"],)}
    yield create_app(dataclasses.replace(settings, redis_url=url, **limits))
    client.flushdb()


def test_many_runs_at_once_never_queue_more_than_the_limit(stalled):
    answers: list[int] = []

    def post() -> None:
        answers.append(stalled.test_client().post("/runs", json=ECHO).status_code)

    threads = [threading.Thread(target=post) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [202] * 5 + [503] * 35, "the limit holds under concurrency"


@pytest.mark.parametrize(
    ("path", "body"), [("/colours", COLOUR), ("/pulls", {"image": ECHO["image"]})]
)
def test_colours_and_pulls_meet_the_same_limit_with_retry_after(stalled, path, body):
    api = stalled.test_client()
    codes = [api.post(path, json=body).status_code for _ in range(5)]
    assert codes == [202] * 5
    refused = api.post(path, json=body)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "5"


def test_with_no_live_worker_work_is_refused_with_503_and_retry_after(settings):
    url = settings.redis_url.rsplit("/", 1)[0] + "/11"
    api = create_app(dataclasses.replace(settings, redis_url=url)).test_client()
    try:
        for path, body in (("/runs", ECHO), ("/colours", COLOUR)):
            refused = api.post(path, json=body)
            assert refused.status_code == 503, (path, refused.get_data(as_text=True))
            assert refused.headers["Retry-After"] == "5"
    finally:
        redis.Redis.from_url(url).flushdb()
