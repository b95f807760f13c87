"""Two nodes, a registry and the beat's work: real engines, registry, workers and Redis.

Node A is the default engine, node B a second dockerd; each has its own worker. Images move
between them only through the local registry, as they would between machines.
"""

import dataclasses
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import pytest
import redis

from app.colour.rag_cache import READS
from app.config import Settings
from app.jobs.queues import RUN_TASK, SCHEDULE_PULLS_TASK, node_queue
from app.jobs.records import RUNS, JobStore
from app.jobs.requests import RunRequest
from tasks.celery_app import create_celery
from tests.cluster import (
    celery_worker,
    forget_registry,
    local_registry,
    push_image,
    second_engine,
    stop_worker,
)
from tests.helpers import build_image, kata_ref, remove_kata, wait_until
from web import create_app

pytestmark = pytest.mark.slow  # a second engine, a registry and a worker per node

RED = "def colour(stdout, stderr, status):\n    return 'red'\n"
GREEN = "def colour(stdout, stderr, status):\n    return 'green'\n"
ECHO = {"cyber-dojo.sh": "echo hello"}


@dataclasses.dataclass
class Cluster:
    registry: str
    image: str  # REGISTRY/greenbar-test/pullme:latest, the one allowlisted image
    engine_b: docker.DockerClient
    worker_b: Any
    settings: Settings


@pytest.fixture(scope="module")
def cluster(redis_url: str, images: None, docker_client: docker.DockerClient) -> Iterator[Cluster]:
    with local_registry() as registry, second_engine() as base_url_b:
        image = f"{registry}/greenbar-test/pullme:latest"
        # Rag lambdas run in greenbar's evaluator image, which each worker pulls at start.
        evaluator = push_image(docker_client, "greenbar/evaluator:latest", registry, "evaluator")
        env = {
            "GREENBAR_IMAGES": image,
            "GREENBAR_PULL_INTERVAL_MINUTES": "0.05",
            "GREENBAR_EVALUATOR_IMAGE": evaluator,
        }
        engine_b = docker.DockerClient(base_url=base_url_b, timeout=120)
        settings = Settings.from_env(
            {}, redis_url=redis_url, node="test-web", images=(image,), pull_interval_minutes=0.05
        )
        try:
            with (
                celery_worker("a@node-a", "node-a", redis_url, None, extra_env=env),
                celery_worker("b@node-b", "node-b", redis_url, base_url_b, extra_env=env) as b,
            ):
                yield Cluster(registry, image, engine_b, b, settings)
        finally:
            engine_b.close()
            forget_registry(docker_client, registry)


def push_version(client: docker.DockerClient, cluster: Cluster, rag_lambda: str) -> str:
    """Builds greenbar/busybox-sh with `rag_lambda`, pushes it as the image; returns its id."""
    dockerfile = (
        "FROM greenbar/busybox-sh\n"
        f"LABEL greenbar.test={uuid.uuid4().hex}\n"
        "COPY red_amber_green.py /usr/local/bin/red_amber_green.py\n"
    )
    built = build_image(client, dockerfile, {"red_amber_green.py": rag_lambda})
    repository = cluster.image.split("/", 1)[1].rsplit(":", 1)[0]
    push_image(client, built.id, cluster.registry, repository)
    return str(built.id)


def run_on(cluster: Cluster, node: str, files: dict[str, str], **fields: Any) -> dict[str, Any]:
    """Sends a run straight to `node`'s queue, as routing does for a kata, and waits for it."""
    store = JobStore(redis.Redis.from_url(cluster.settings.redis_url), 3600, RUNS)
    run_id = secrets.token_hex(16)
    if "kata" in fields:  # as the API records it: the kata of a client who sent no token
        fields["kata_ref"] = kata_ref(cluster.settings.redis_url, fields["kata"])
    store.enqueue(run_id, RunRequest(cluster.image, files, 10, **fields))
    create_celery(cluster.settings).send_task(RUN_TASK, args=[run_id], queue=node_queue(node))
    view = store.wait(run_id, 25)
    assert view.state == "done", view
    return dict(view.result or {})


def held_by(client: docker.DockerClient, image: str) -> str:
    try:
        return str(client.images.get(image).id)
    except docker.errors.ImageNotFound:
        return ""


@pytest.fixture(scope="module")
def api(cluster: Cluster) -> Any:
    return create_app(cluster.settings).test_client()


def test_a_requested_pull_brings_the_image_to_every_live_node_with_progress(
    cluster: Cluster, api: Any, docker_client: docker.DockerClient
) -> None:
    v1 = push_version(docker_client, cluster, RED)
    response = api.post("/pulls", json={"image": cluster.image})
    assert response.status_code == 202, response.get_json()
    location = response.headers["Location"]

    def done() -> bool:
        nodes = api.get(location).get_json()["nodes"]
        return all(n["state"] in ("pulled", "failed") for n in nodes.values())

    wait_until(done, 60, "the pull on every node")
    nodes = api.get(location).get_json()["nodes"]
    assert {"node-a", "node-b"} <= set(nodes)
    for name in ("node-a", "node-b"):
        assert nodes[name]["state"] == "pulled", nodes[name]
        assert nodes[name]["digest"] == v1
    assert nodes["node-b"]["progress"]["layers_total"] >= 1
    assert held_by(cluster.engine_b, cluster.image) == v1


def test_nodes_lists_each_live_node_with_the_images_it_holds(
    cluster: Cluster, api: Any, docker_client: docker.DockerClient
) -> None:
    wanted = held_by(docker_client, cluster.image)

    def listed() -> bool:
        nodes = api.get("/nodes").get_json()["nodes"]
        return all(
            any(i["digest"] == wanted for i in nodes.get(n, {}).get("images", []))
            for n in ("node-a", "node-b")
        )

    wait_until(listed, 20, "both heartbeats to list the image")
    node_b = api.get("/nodes").get_json()["nodes"]["node-b"]
    assert node_b["workers"] == ["b@node-b"]
    assert node_b["docker"] is True
    assert node_b["images"][0]["image"] == cluster.image
    assert node_b["images"][0]["pulled_at"]


def test_a_run_on_each_node_uses_that_nodes_image(cluster: Cluster) -> None:
    for node in ("node-a", "node-b"):
        result = run_on(cluster, node, ECHO)
        assert (result["node"], result["outcome"]) == (node, "red")


def test_a_scheduled_pull_brings_a_new_build_to_both_nodes_and_its_lambda_is_used(
    cluster: Cluster, docker_client: docker.DockerClient
) -> None:
    v2 = push_version(docker_client, cluster, GREEN)
    celery = create_celery(cluster.settings)
    celery.send_task(SCHEDULE_PULLS_TASK, queue=node_queue("node-a"))  # as beat sends it
    wait_until(
        lambda: (
            held_by(cluster.engine_b, cluster.image) == v2
            and held_by(docker_client, cluster.image) == v2
        ),
        60,
        "the new build on both nodes",
    )
    client = redis.Redis.from_url(cluster.settings.redis_url)

    def reads() -> int:
        return int(client.hget(READS, v2) or 0)

    wait_until(lambda: reads() == 1, 10, "the puller to read the new lambda")
    for node in ("node-a", "node-b"):
        result = run_on(cluster, node, ECHO)
        assert (result["outcome"], result["digest"]) == ("green", v2)
    assert reads() == 1, "read once, by the puller, not by the runs"


def test_a_run_on_a_node_without_the_image_is_pulling_and_a_later_run_succeeds(
    cluster: Cluster,
) -> None:
    cluster.engine_b.images.remove(cluster.image, force=True)
    first = run_on(cluster, "node-b", ECHO)
    assert first["outcome"] == "pulling"
    assert first["stdout"]["content"] == ""
    assert "not on node node-b" in first["log"]

    def succeeds() -> bool:
        return run_on(cluster, "node-b", ECHO)["outcome"] == "green"

    wait_until(succeeds, 60, "a run on node-b after its pull")


def test_pulls_can_be_disabled_and_say_so(cluster: Cluster) -> None:
    settings = dataclasses.replace(cluster.settings, pulls_enabled=False)
    response = create_app(settings).test_client().post("/pulls", json={"image": cluster.image})
    assert response.status_code == 200
    assert response.get_json()["state"] == "disabled"


def test_only_allowlisted_images_can_be_pulled(api: Any) -> None:
    response = api.post("/pulls", json={"image": "greenbar/not-allowed"})
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "image"


def test_an_unknown_pull_is_404(api: Any) -> None:
    assert api.get("/pulls/nope").status_code == 404


def test_a_katas_runs_go_to_the_node_holding_its_volume_and_elsewhere_once_it_is_gone(
    cluster: Cluster, api: Any, docker_client: docker.DockerClient
) -> None:
    kata = f"test-{uuid.uuid4().hex[:12]}"
    try:
        first = run_on(cluster, "node-b", {"cyber-dojo.sh": "echo x > kept"}, kata=kata)
        assert first["node"] == "node-b"
        body = {"image": cluster.image, "files": {"cyber-dojo.sh": "cat kept"}, "kata": kata}
        for _ in range(3):
            view = api.post("/runs?wait=25", json=body).get_json()
            assert view["result"]["node"] == "node-b"
            assert view["result"]["stdout"]["content"] == "x\n", str(view["result"])
        stop_worker(cluster.worker_b)
        moved = api.post("/runs?wait=25", json=body).get_json()
        assert moved["result"]["node"] != "node-b"
        assert "No such file" in moved["result"]["stderr"]["content"], "a fresh volume"
    finally:
        for client in (docker_client, cluster.engine_b):
            remove_kata(client, cluster.settings.redis_url, kata)
