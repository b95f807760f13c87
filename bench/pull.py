"""A scheduled pull when nothing changed: K images on 2 nodes, time per image per node.

Sets up a local registry, a second Docker engine and one worker per node (tests/cluster.py),
pushes K images and pulls them everywhere once. Then, timed:
- the scheduled fan-out end to end (greenbar.schedule_pulls until every node's pull record of
  every image is final), repeated;
- baseline, in the same run: a raw `docker pull` of each image on each engine, one after the
  other (what a cron job of docker pulls would cost).

Usage: .venv/bin/python bench/pull.py [--images K] [--rounds N]
"""

import argparse
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import docker
import redis

from app.config import Settings
from app.jobs.queues import SCHEDULE_PULLS_TASK, node_queue
from tasks.celery_app import create_celery
from tests.cluster import celery_worker, forget_registry, local_registry, push_image, second_engine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_and_push(client: docker.DockerClient, registry: str, k: int) -> list[str]:
    references = []
    for i in range(k):
        context = io.BytesIO()
        text = f"FROM greenbar/busybox-sh\nLABEL greenbar.bench={uuid.uuid4().hex}\n".encode()
        with tarfile.open(fileobj=context, mode="w") as tar:
            info = tarfile.TarInfo("Dockerfile")
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text))
        context.seek(0)
        image, _ = client.images.build(fileobj=context, custom_context=True, rm=True, forcerm=True)
        references.append(push_image(client, image.id, registry, f"greenbar-bench/img{i}"))
    return references


def scheduled_round(settings: Settings, client: redis.Redis, images: list[str]) -> float:
    """Sends the fan-out as beat does and waits until every pull record is final."""
    client.delete("greenbar:periodic:pulls")  # a new period
    started = time.perf_counter()
    result = create_celery(settings).send_task(SCHEDULE_PULLS_TASK, queue=node_queue("node-a"))
    pull_ids = result.get(timeout=60)["pulls"]
    assert set(pull_ids) == set(images), pull_ids
    while True:
        states = [
            json.loads(v)["state"]
            for pull_id in pull_ids.values()
            for k, v in client.hgetall(f"greenbar:pull:{pull_id}").items()
            if k.startswith(b"node:")
        ]
        if len(states) == 2 * len(images) and all(s in ("pulled", "failed") for s in states):
            assert all(s == "pulled" for s in states), states
            return time.perf_counter() - started
        time.sleep(0.01)


def raw_round(hosts: list[str], images: list[str]) -> float:
    started = time.perf_counter()
    for host in hosts:
        for image in images:
            subprocess.run(
                ["docker", "-H", host, "pull", "-q", image], check=True, capture_output=True
            )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    port = free_port()
    redis_server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    local = docker.from_env()
    try:
        with local_registry() as registry, second_engine() as engine_b:
            images = build_and_push(local, registry, args.images)
            redis_url = f"redis://127.0.0.1:{port}/0"
            env = {"GREENBAR_IMAGES": ",".join(images)}
            settings = Settings.from_env({}, redis_url=redis_url, images=tuple(images))
            client = redis.Redis.from_url(redis_url)
            hosts = [os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"), engine_b]
            with (
                celery_worker("a@node-a", "node-a", redis_url, None, extra_env=env),
                celery_worker("b@node-b", "node-b", redis_url, engine_b, extra_env=env),
            ):
                scheduled_round(settings, client, images)  # the first round really pulls
                ours, raw = [], []
                for _ in range(args.rounds):
                    ours.append(scheduled_round(settings, client, images))
                    raw.append(raw_round(hosts, images))
            forget_registry(local, registry)
    finally:
        redis_server.terminate()
    pairs = 2 * args.images
    mine = statistics.median(ours) / pairs * 1000
    base = statistics.median(raw) / pairs * 1000
    print(
        json.dumps(
            {
                "benchmark": "scheduled_pull_nothing_new",
                "images": args.images,
                "nodes": 2,
                "rounds": args.rounds,
                "greenbar_round_median_ms": round(statistics.median(ours) * 1000, 1),
                "greenbar_per_image_per_node_ms": round(mine, 1),
                "raw_docker_pull_round_median_ms": round(statistics.median(raw) * 1000, 1),
                "raw_docker_pull_per_image_per_node_ms": round(base, 1),
                "ratio": round(mine / base, 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
