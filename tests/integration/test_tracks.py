"""Language tracks with real worker processes: a generic worker and a python-scoped one."""

import contextlib
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from app.config import Settings
from tests.cluster import celery_worker, stop_worker
from tests.helpers import build_image, free_port, wait_until
from web import create_app

PYTHON = "greenbar/python-pytest"
FILES = {
    "cyber-dojo.sh": "python3 -m pytest -q",
    "test_hiker.py": "def test_answer():\n    assert 6 * 9 == 42\n",
}
NODE = "track-node"


@pytest.fixture(scope="module")
def private_redis() -> Iterator[str]:
    """A Redis of this module's own, so only its workers are live."""
    port = free_port()
    server = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    wait_until(
        lambda: (
            subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode
            == 0
        ),
        10,
        "redis",
    )
    yield url
    server.terminate()
    server.wait(10)


@pytest.fixture(scope="module")
def versions(images: None, docker_client: docker.DockerClient) -> Iterator[dict[str, str]]:
    """greenbar/python-pytest tagged v1, and a v2 built from it: version -> image id."""
    v1 = docker_client.images.get(PYTHON)
    v1.tag(PYTHON, "v1")
    dockerfile = f"FROM {PYTHON}\nLABEL greenbar.test={uuid.uuid4().hex}\n"
    v2 = build_image(docker_client, dockerfile, tag=f"{PYTHON}:v2")
    yield {"v1": str(v1.id), "v2": str(v2.id)}
    for tag in ("v1", "v2"):
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.images.remove(f"{PYTHON}:{tag}")


@pytest.fixture(scope="module")
def workers(private_redis: str, versions: Any) -> Iterator[dict[str, Any]]:
    env = {"GREENBAR_IMAGES": f"{PYTHON}:*,greenbar/busybox-sh", "GREENBAR_PULLS_ENABLED": "false"}
    with (
        celery_worker("generic@tracks", NODE, private_redis, extra_env=env) as generic,
        celery_worker(
            "python@tracks", NODE, private_redis, extra_env={**env, "GREENBAR_TRACKS": "python"}
        ) as scoped,
    ):
        yield {"generic": generic, "python": scoped}


@pytest.fixture(scope="module")
def api(private_redis: str, workers: Any) -> Any:
    settings = Settings.from_env(
        {},
        redis_url=private_redis,
        images=(f"{PYTHON}:*", "greenbar/busybox-sh"),
        pulls_enabled=False,
    )
    return create_app(settings).test_client()


def run(api: Any, **fields: Any) -> dict[str, Any]:
    response = api.post("/runs?wait=25", json={"files": FILES, **fields})
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json()["result"])


@pytest.mark.slow
def test_deploying_a_version_makes_it_the_tracks_live_image(api: Any) -> None:
    response = api.put("/tracks/python", json={"image": f"{PYTHON}:v1"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["image"] == f"{PYTHON}:v1"
    assert response.get_json()["pull"]["state"] == "disabled"

    def listed() -> bool:
        track = api.get("/tracks").get_json()["tracks"]["python"]
        return track["image"] == f"{PYTHON}:v1" and track["nodes"] == [NODE]

    wait_until(listed, 20, "GET /tracks to show the node holding v1")


@pytest.mark.slow
def test_runs_of_a_track_land_on_the_worker_scoped_to_it(api: Any, versions: Any) -> None:
    for _ in range(4):
        result = run(api, track="python")
        assert result["worker"] == "python@tracks"
        assert (result["image"], result["digest"]) == (f"{PYTHON}:v1", versions["v1"])
        assert result["outcome"] == "red"


@pytest.mark.slow
def test_runs_naming_an_image_land_on_the_generic_worker(api: Any) -> None:
    for _ in range(2):
        assert run(api, image=PYTHON)["worker"] == "generic@tracks"


def test_a_track_without_a_scoped_worker_falls_back_to_the_generic_worker(api: Any) -> None:
    api.put("/tracks/busybox", json={"image": "greenbar/busybox-sh"})
    result = run(api, track="busybox", files={"cyber-dojo.sh": "echo hi"})
    assert result["worker"] == "generic@tracks"
    assert result["stdout"]["content"] == "hi\n"


def test_a_new_version_is_used_by_new_runs_while_a_pinned_run_still_gets_the_old(
    api: Any, versions: Any
) -> None:
    assert api.put("/tracks/python", json={"image": f"{PYTHON}:v2"}).status_code == 200
    assert run(api, track="python")["digest"] == versions["v2"]
    pinned = run(api, track="python", version="v1")
    assert (pinned["image"], pinned["digest"], pinned["version"]) == (
        f"{PYTHON}:v1",
        versions["v1"],
        "v1",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"track": "python", "image": PYTHON}, "image"),
        ({}, "image"),
        ({"track": "Py thon"}, "track"),
        ({"track": "cobol"}, "track"),
        ({"track": "python", "version": "v9"}, "version"),
        ({"image": PYTHON, "version": "v1"}, "version"),
    ],
)
def test_a_bad_track_or_version_is_422_naming_the_field(api: Any, body: Any, field: str) -> None:
    response = api.post("/runs", json={"files": FILES, **body})
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == field


def test_a_track_can_only_deploy_an_allowlisted_image(api: Any) -> None:
    response = api.put("/tracks/python", json={"image": "greenbar/busybox-sh:v7"})
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "image"


@pytest.mark.slow
def test_with_its_scoped_worker_gone_a_track_falls_back_and_with_none_the_api_says_503(
    api: Any, workers: Any
) -> None:
    stop_worker(workers["python"])
    assert run(api, track="python")["worker"] == "generic@tracks"
    stop_worker(workers["generic"])
    response = api.post("/runs", json={"files": FILES, "track": "python"})
    assert response.status_code == 503
    assert "track python" in response.get_json()["error"]["message"]
