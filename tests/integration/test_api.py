"""The REST contract: status codes, bodies and errors of /runs, /alive, /ready and /sha."""

import json
import subprocess
from pathlib import Path

import pytest
import redis

from app.cluster.workers import WorkerRegistry
from app.config import Settings
from tests.helpers import free_port, run
from web import create_app

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "greenbar/busybox-sh"
ECHO = {"cyber-dojo.sh": "echo hello"}


def _body(**fields):
    return {"image": IMAGE, "files": ECHO, **fields}


def _other_db(redis_url: str, index: int) -> str:
    return redis_url.rsplit("/", 1)[0] + f"/{index}"


def _refusal(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["status"] == status
    assert error["message"]
    if field is not None:
        assert error["field"] == field
        assert error["rule"]
    return error


def test_posting_a_run_answers_202_queued_with_its_location(api):
    response = api.post("/runs", json=_body())
    assert response.status_code == 202
    view = response.get_json()
    assert view["state"] == "queued"
    assert view["image"] == IMAGE
    assert len(view["id"]) >= 16
    assert response.headers["Location"] == f"/runs/{view['id']}"
    finished = api.get(f"/runs/{view['id']}?wait=25").get_json()
    assert finished["state"] == "done"


def test_posting_with_wait_answers_200_with_the_finished_run(api):
    response = api.post("/runs?wait=25", json=_body())
    assert response.status_code == 200
    view = response.get_json()
    assert view["state"] == "done"
    assert view["node"] == "test-node"
    assert view["result"]["stdout"] == {"content": "hello\n", "truncated": False}
    assert response.headers["Location"] == f"/runs/{view['id']}"


@pytest.mark.slow
def test_a_wait_longer_than_five_seconds_gets_a_run_that_takes_six(api):
    body = _body(files={"cyber-dojo.sh": "sleep 6; echo late"})
    response = api.post("/runs?wait=25", json=body)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["result"]["stdout"]["content"] == "late\n"


def test_a_finished_run_can_be_read_again_by_its_id(api):
    posted = api.post("/runs?wait=25", json=_body()).get_json()
    response = api.get(f"/runs/{posted['id']}")
    assert response.status_code == 200
    assert response.get_json() == posted


def test_the_result_names_the_image_its_digest_and_the_node(api, docker_client):
    result = run(api, ECHO)
    assert result["image"] == IMAGE
    assert result["digest"] == docker_client.images.get(IMAGE).id
    assert result["digest"].startswith("sha256:")
    assert result["node"] == "test-node"
    assert result["log"] == ""
    assert isinstance(result["duration_ms"], int)
    assert result["duration_ms"] >= 0


def test_an_image_with_an_explicit_latest_tag_is_allowed(api):
    result = run(api, ECHO, image=IMAGE + ":latest")
    assert result["stdout"]["content"] == "hello\n"


def test_an_unknown_run_id_is_404(api):
    _refusal(api.get("/runs/0123456789abcdef0123456789abcdef"), 404)


def test_malformed_json_is_400(api):
    response = api.post("/runs", data='{"image": ', content_type="application/json")
    _refusal(response, 400)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_is_415(api, content_type):
    _refusal(api.post("/runs", data="image=x", content_type=content_type), 415)


def test_a_body_over_the_request_limit_is_413(api, settings):
    padding = "x" * (settings.request_max_kib * 1024 + 1)
    response = api.post("/runs", data=f'{{"pad": "{padding}"}}', content_type="application/json")
    _refusal(response, 413)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"files": ECHO}, "image"),
        (_body(image="alpine"), "image"),
        (_body(image="greenbar/busybox-sh:1.0"), "image"),
        (_body(image=7), "image"),
        ({"image": IMAGE}, "files"),
        (_body(files=["cyber-dojo.sh"]), "files"),
        (_body(files="echo"), "files"),
        (_body(files={"hiker.sh": ""}), "files"),
        (_body(files={"cyber-dojo.sh": "", **{f"f{i}": "" for i in range(256)}}), "files"),
        (_body(files={"cyber-dojo.sh": "x" * (4096 * 1024 + 1)}), "files"),
        (_body(files={**ECHO, "/etc/passwd": ""}), "files[/etc/passwd]"),
        (_body(files={**ECHO, "../up": ""}), "files[../up]"),
        (_body(files={**ECHO, "a/./b": ""}), "files[a/./b]"),
        (_body(files={**ECHO, "a//b": ""}), "files[a//b]"),
        (_body(files={**ECHO, "": ""}), "files[]"),
        (_body(files={**ECHO, "a\x00b": ""}), "files[a\x00b]"),
        (_body(files={**ECHO, "a\x1bb": ""}), "files[a\x1bb]"),
        (_body(files={**ECHO, "n" * 256: ""}), f"files[{'n' * 256}]"),
        (_body(files={**ECHO, "/".join("d" * 17): ""}), f"files[{'/'.join('d' * 17)}]"),
        (_body(files={**ECHO, "hiker.sh": 42}), "files[hiker.sh]"),
        (_body(files={**ECHO, "hiker.sh": None}), "files[hiker.sh]"),
        (_body(max_seconds=0), "max_seconds"),
        (_body(max_seconds=21), "max_seconds"),
        (_body(max_seconds=-1), "max_seconds"),
        (_body(max_seconds=True), "max_seconds"),
        (_body(max_seconds="5"), "max_seconds"),
        (_body(max_seconds=2.5), "max_seconds"),
        (_body(timeout=5), "timeout"),
        ([_body()], "body"),
        ("a string", "body"),
        (None, "body"),
    ],
)
def test_an_invalid_run_request_is_422_naming_the_field(api, body, field):
    response = api.post("/runs", data=json.dumps(body), content_type="application/json")
    _refusal(response, 422, field)


@pytest.mark.parametrize("wait", ["soon", "-1", "26", "nan", "inf", ""])
def test_a_bad_wait_is_400_naming_wait(api, wait):
    _refusal(api.post(f"/runs?wait={wait}", json=_body()), 400, "wait")
    _refusal(api.get(f"/runs/0123456789abcdef?wait={wait}"), 400, "wait")


def test_alive_answers_200(api):
    response = api.get("/alive")
    assert response.status_code == 200
    assert response.get_json() == {"alive": True, "alive?": True}


def test_ready_lists_the_live_worker_on_the_test_node(api):
    response = api.get("/ready")
    assert response.status_code == 200
    body = response.get_json()
    assert body["ready"] is True
    assert body["missing"] == []
    assert any(w["node"] == "test-node" and w["docker"] for w in body["workers"])


def test_ready_is_503_missing_worker_when_no_worker_beats_in_its_redis(redis_url):
    settings = Settings.from_env({}, redis_url=_other_db(redis_url, 5))
    response = create_app(settings).test_client().get("/ready")
    assert response.status_code == 503
    body = response.get_json()
    assert body["ready"] is False
    assert body["missing"] == ["worker"]


def test_ready_is_503_missing_docker_when_the_only_worker_cannot_reach_its_engine(redis_url):
    url = _other_db(redis_url, 6)
    registry = WorkerRegistry(redis.Redis.from_url(url), 15)
    registry.beat("no-docker@elsewhere", "elsewhere", docker_ok=False)
    try:
        response = create_app(Settings.from_env({}, redis_url=url)).test_client().get("/ready")
    finally:
        registry.forget("no-docker@elsewhere")
    assert response.status_code == 503
    assert response.get_json()["missing"] == ["docker"]


def test_ready_is_503_missing_redis_when_redis_does_not_answer():
    settings = Settings.from_env({}, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    response = create_app(settings).test_client().get("/ready")
    assert response.status_code == 503
    assert "redis" in response.get_json()["missing"]


def test_a_post_while_redis_is_down_is_503_not_a_bug():
    settings = Settings.from_env({}, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    response = create_app(settings).test_client().post("/runs", json=_body())
    _refusal(response, 503)


def _head() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_sha_is_the_commit_checked_out(settings, monkeypatch):
    monkeypatch.delenv("GREENBAR_SHA", raising=False)
    before = _head()
    sha = create_app(settings).test_client().get("/sha").get_json()["sha"]
    assert sha in (before, _head())  # others may commit meanwhile


def test_sha_comes_from_greenbar_sha_when_it_is_set(monkeypatch, settings):
    monkeypatch.setenv("GREENBAR_SHA", "0123abc")
    assert create_app(settings).test_client().get("/sha").get_json() == {"sha": "0123abc"}
