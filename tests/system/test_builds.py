"""A track's image built from its git repository by a real builder worker, pushed to a real
local registry, pulled back by a node, deployed and run: seed 004's builder, end to end."""

import contextlib
import dataclasses
import json
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import docker
import pytest

from app.config import Settings
from app.externals.engine import Engine
from app.images.node_images import NodeImages
from tests.cluster import celery_worker, local_registry
from tests.helpers import wait_until
from web import create_app

ROOT = Path(__file__).resolve().parents[2]
BUILD_SECONDS = 120
pytestmark = pytest.mark.slow


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A track's repository: busybox-sh's image again, its rule and start point in it."""
    repo = tmp_path / "demo-track"
    repo.mkdir()
    shutil.copy(ROOT / "images" / "busybox-sh" / "red_amber_green.py", repo)
    (repo / "Dockerfile").write_text(
        "FROM greenbar/busybox-sh:latest\n"
        "COPY red_amber_green.py /usr/local/bin/red_amber_green.py\n"
        'LABEL greenbar.track="demo"\n'
    )
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "the demo track")
    return repo


def _tags(registry: str, repository: str) -> list[str]:
    with urllib.request.urlopen(f"http://{registry}/v2/{repository}/tags/list", timeout=10) as r:
        return list(json.load(r).get("tags") or [])


def test_a_build_is_pushed_pulled_back_deployed_and_run(
    settings: Settings, worker: Any, repo: Path, docker_client: docker.DockerClient
) -> None:
    sha = _git(repo, "rev-parse", "main")
    with local_registry() as registry:
        built = f"{registry}/greenbar-builds/demo:git-{sha}"
        environment = {
            "GREENBAR_BUILDER": "true",
            "GREENBAR_BUILD_REGISTRY": registry,
            "GREENBAR_BUILD_SOURCES": f"demo={repo}",
            "GREENBAR_TRACKS": "nothing-else",  # it takes builds, not the suite's runs
        }
        deployed = dataclasses.replace(
            settings,
            build_registry=registry,
            build_sources=(f"demo={repo}",),
            images=(*settings.images, f"{registry}/greenbar-builds/demo:*"),
        )
        api = create_app(deployed).test_client()
        try:
            with celery_worker(
                "builder@builds", "builder-node", settings.redis_url, extra_env=environment
            ):
                answer = api.post("/builds", json={"track": "demo", "git_reference": "main"})
                assert answer.status_code == 202, answer.get_json()
                location = answer.headers["Location"]
                views: list[dict[str, Any]] = []

                def ended() -> bool:
                    views.append(api.get(location).get_json())
                    return views[-1]["state"] in ("built", "failed")

                wait_until(ended, BUILD_SECONDS, "the build to end")
            view = views[-1]
            assert (view["state"], view["sha"], view["image"]) == ("built", sha, built), view
            assert f"git-{sha}" in _tags(registry, "greenbar-builds/demo")

            docker_client.images.remove(built)  # the node has it only from the registry now
            NodeImages(Engine.from_env()).pull(built, lambda event: None)
            assert docker_client.images.get(built).labels["greenbar.track"] == "demo"

            deploy = api.put("/tracks/demo", json={"image": built})
            assert deploy.status_code == 200, deploy.get_json()
            files = {
                name.name: name.read_text()
                for name in (ROOT / "images" / "busybox-sh" / "start").iterdir()
            }
            ran = api.post("/runs?wait=25", json={"track": "demo", "files": files})
            assert ran.status_code == 200, ran.get_json()
            result = ran.get_json()["result"]
            assert (result["outcome"], result["image"]) == ("red", built), result
        finally:
            with contextlib.suppress(docker.errors.ImageNotFound):
                docker_client.images.remove(built, force=True)
