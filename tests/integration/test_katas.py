"""Kata volumes and pruning, on the real engine, Redis and worker."""

import dataclasses
import time
import uuid
from typing import Any

import docker
import pytest
import redis

from app.cluster.pruner import Pruner
from app.cluster.reaper import Reaper
from app.externals.engine import Engine
from app.images.node_images import NodeImages
from app.jobs.records import RUNS, JobStore
from app.jobs.requests import RunRequest
from app.katas.records import KataStore
from app.katas.volumes import KataVolumes
from app.sandbox.uids import UidAllocator
from app.wiring import NodeContext
from tests.helpers import kata_ref, kata_volume, remove_kata, run

DAY = 24 * 3600


def kata_id() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def kata(docker_client: docker.DockerClient, redis_url: str) -> Any:
    """A fresh kata id; its volume is removed afterwards whatever the test did."""
    name = kata_id()
    yield name
    remove_kata(docker_client, redis_url, name)


def test_a_kata_keeps_build_outputs_between_its_runs_and_says_so_without_reporting_them_again(
    api: Any, kata: str
) -> None:
    first = run(api, {"cyber-dojo.sh": "mkdir -p build && echo made > build/out.txt"}, kata=kata)
    assert "build/out.txt" in first["created"]
    assert first["kept"] == {"names": ["build/out.txt"], "truncated": False}
    second = run(api, {"cyber-dojo.sh": "cat build/out.txt"}, kata=kata)
    assert second["stdout"]["content"] == "made\n"
    assert second["created"] == {}, "a file there before the run was not created by it"
    assert second["kept"] == {"names": ["build/out.txt"], "truncated": False}


def test_a_run_without_a_kata_says_nothing_of_kept_files(api: Any) -> None:
    assert "kept" not in run(api, {"cyber-dojo.sh": "echo made > out.txt"})


def test_one_kata_never_sees_another_katas_files(
    api: Any, kata: str, docker_client: Any, redis_url: str
) -> None:
    other = kata_id()
    try:
        run(api, {"cyber-dojo.sh": "echo secret > mine.txt"}, kata=kata)
        seen = run(api, {"cyber-dojo.sh": "ls -a; cat mine.txt"}, kata=other)
        assert "mine.txt" not in seen["stdout"]["content"]
        assert "No such file" in seen["stderr"]["content"]
    finally:
        remove_kata(docker_client, redis_url, other)


def test_files_the_client_no_longer_sends_are_deleted_from_the_volume(api: Any, kata: str) -> None:
    run(api, {"cyber-dojo.sh": "true", "test_old.sh": "old", "keep.sh": "k"}, kata=kata)
    result = run(api, {"cyber-dojo.sh": "ls", "keep.sh": "k"}, kata=kata)
    listed = result["stdout"]["content"].split()
    assert "keep.sh" in listed
    assert "test_old.sh" not in listed, "correctness never depends on the volume"


def test_a_kata_run_reports_changes_to_the_files_it_was_sent(api: Any, kata: str) -> None:
    files = {"cyber-dojo.sh": "echo more >> notes.txt", "notes.txt": "start\n"}
    run(api, files, kata=kata)
    result = run(api, files, kata=kata)
    assert result["changed"]["notes.txt"]["content"] == "start\nmore\n"


def test_a_kata_volume_never_holds_more_than_its_quota(api: Any, kata: str) -> None:
    fill = "dd if=/dev/zero of=a bs=1M count=40; dd if=/dev/zero of=b bs=1M count=40"
    result = run(api, {"cyber-dojo.sh": fill}, kata=kata, max_seconds=20)
    assert "No space left on device" in result["stderr"]["content"]
    assert result["sandbox_kib"] <= 64 * 1024


def test_a_kata_id_that_could_name_a_path_is_refused(api: Any) -> None:
    for bad in ("../x", "/etc", "a b", "", "x" * 65, 7):
        body = {"image": "greenbar/busybox-sh", "files": {"cyber-dojo.sh": "true"}, "kata": bad}
        response = api.post("/runs", json=body)
        assert response.status_code == 422, bad
        assert response.get_json()["error"]["field"] == "kata"


# Pruning, with time passed in.


@pytest.fixture
def pruner(settings: Any) -> Pruner:
    engine = Engine.from_env()
    katas = KataStore(redis.Redis.from_url(settings.redis_url), 7 * DAY)
    reaper = Reaper(engine, settings.longest_run_seconds)
    client = redis.Redis.from_url(settings.redis_url)
    volumes = KataVolumes(engine, settings, UidAllocator(client, settings.node, 1, 1))
    return Pruner(volumes, katas, reaper, NodeImages(engine), DAY, None)


def test_a_kata_volume_unused_for_more_than_a_day_is_pruned_and_a_recent_one_kept(
    api: Any, kata: str, pruner: Pruner, docker_client: Any, redis_url: str
) -> None:
    run(api, {"cyber-dojo.sh": "echo x > y"}, kata=kata)
    volume_name = kata_volume(redis_url, kata)
    assert volume_name not in pruner.prune(time.time() + 3600)["volumes"]
    docker_client.volumes.get(volume_name)  # still there
    report = pruner.prune(time.time() + DAY + 60)
    assert volume_name in report["volumes"]
    with pytest.raises(docker.errors.NotFound):
        docker_client.volumes.get(volume_name)


def test_a_volume_in_use_during_a_prune_survives_it(
    api: Any, kata: str, pruner: Pruner, docker_client: Any, redis_url: str
) -> None:
    run(api, {"cyber-dojo.sh": "true"}, kata=kata)
    volume_name = kata_volume(redis_url, kata)
    holder = docker_client.containers.run(
        "greenbar/busybox-sh",
        ["sleep", "30"],
        detach=True,
        network_mode="none",
        volumes={volume_name: {"bind": "/sandbox", "mode": "rw"}},
        labels={"greenbar.test": "katas"},
    )
    try:
        report = pruner.prune(time.time() + DAY + 60)
        assert volume_name in report["volumes_in_use"]
        docker_client.volumes.get(volume_name)
    finally:
        holder.remove(force=True)


def test_pruning_keeps_every_image_unless_asked(pruner: Pruner, docker_client: Any) -> None:
    before = {i.id for i in docker_client.images.list()}
    assert pruner.prune(time.time())["images"] == []
    assert {i.id for i in docker_client.images.list()} >= before


def test_a_volume_whose_run_did_not_complete_is_wiped_and_the_log_says_so(
    settings: Any, kata: str, docker_client: Any, redis_url: str
) -> None:
    # A node whose host reads at most 1 MiB back: 30 sent files rewritten to 50 KiB each come
    # back as more, so the result is cut off, the run is faulty and the volume's state unknown.
    tight = dataclasses.replace(settings, read_cap_mib=1, cases_max=1)  # cases need more read
    node = NodeContext.create(tight, lambda *sent: None)
    files = {f"f{i}.txt": "x" for i in range(30)}
    grow = "for f in f*.txt; do head -c 51200 /dev/zero | tr '\\0' y > $f; done"
    ref = kata_ref(redis_url, kata)
    store, results = JobStore(redis.Redis.from_url(redis_url), 3600, RUNS), []
    for script in ("echo kept > kept.txt", grow, "ls"):
        run_id = uuid.uuid4().hex
        sent = {**files, "cyber-dojo.sh": script}
        store.enqueue(run_id, RunRequest("greenbar/busybox-sh", sent, 10, kata=kata, kata_ref=ref))
        node.runs.execute(run_id)
        results.append(store.get(run_id).result or {})
    assert results[1]["outcome"] == "faulty"
    assert "more than 1 MiB came back" in results[1]["log"]
    assert "the kata volume was wiped because the run did not complete" in results[1]["log"]
    assert "kept.txt" not in results[2]["stdout"]["content"].split(), "a fresh volume"
