"""Faults with the real process killed or restarted: a pool child, a whole worker, Redis,
dockerd, and a second beat. Each run must end exactly once, with an explicit state."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import psutil
import pytest
import redis

from app.config import Settings
from tests.cluster import celery_worker, restart_engine, second_engine, worker_log
from tests.helpers import DEPLOYMENT, ROOT, free_port, wait_until
from web import create_app

pytestmark = pytest.mark.slow  # each kills or restarts a real process and waits for recovery

IMAGE = "greenbar/busybox-sh"
NODE = "fault-node"
SLEEPY = {"cyber-dojo.sh": "echo started; sleep 30"}
ECHO = {"cyber-dojo.sh": "echo PASSED"}


class RedisServer:
    """A redis-server this module can kill and restart, with or without its append-only file."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="greenbar-aof-"))
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, appendonly: bool = True) -> None:
        command = ["redis-server", "--port", str(self.port), "--dir", str(self.dir), "--save", ""]
        command += ["--appendonly", "yes" if appendonly else "no", "--appendfsync", "everysec"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_until(answers, 10, "redis-server")

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def forget_everything(self) -> None:
        for found in self.dir.rglob("*"):
            if found.is_file():
                found.unlink()


@pytest.fixture(scope="module")
def server(images: None) -> Iterator[RedisServer]:
    found = RedisServer()
    found.start()
    yield found
    found.kill()


def scoped_worker(server: RedisServer, track: str, **env: str) -> Any:
    extra = {
        "GREENBAR_TRACKS": track,
        "GREENBAR_PULLS_ENABLED": "false",
        "GREENBAR_DEPLOYMENT": f"{DEPLOYMENT}-faults",  # its reaper and pruner leave others be
        **env,
    }
    return celery_worker(f"{track}@faults", NODE, server.url, concurrency=1, extra_env=extra)


@pytest.fixture(scope="module")
def api(server: RedisServer) -> Any:
    settings = Settings.from_env({}, redis_url=server.url, pulls_enabled=False)
    client = create_app(settings).test_client()
    for track in ("child", "whole", "aof", "dock"):
        assert client.put(f"/tracks/{track}", json={"image": IMAGE}).status_code == 200
    return client


def post(api: Any, track: str, files: dict[str, str], **fields: Any) -> str:
    response = api.post("/runs", json={"track": track, "files": files, **fields})
    assert response.status_code == 202, response.get_json()
    return str(response.get_json()["id"])


def view(api: Any, run_id: str, wait: float = 0) -> dict[str, Any]:
    response = api.get(f"/runs/{run_id}?wait={wait}")
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def final(api: Any, run_id: str, seconds: float) -> dict[str, Any]:
    wait_until(lambda: view(api, run_id, 1)["state"] in ("done", "error"), seconds, "a final state")
    return view(api, run_id)


def running(api: Any, run_id: str) -> None:
    wait_until(lambda: view(api, run_id)["state"] == "running", 20, "the run to start")
    time.sleep(0.5)  # its container is created and started


def containers_named(name: str) -> list[Any]:
    return docker.from_env().containers.list(all=True, filters={"name": f"^/{name}$"})


def test_a_pool_child_killed_mid_run_ends_the_run_once_and_its_container_goes(
    api: Any, server: RedisServer
) -> None:
    with scoped_worker(server, "child") as worker:
        started = time.time()
        run_id = post(api, "child", SLEEPY, max_seconds=20)
        running(api, run_id)
        assert containers_named(f"greenbar-run-{run_id}")
        for child in psutil.Process(worker.pid).children():
            child.send_signal(signal.SIGKILL)
        ended = final(api, run_id, 30)
        assert ended["state"] == "error"
        assert "died" in ended["error"] or "stopped" in ended["error"]
        wait_until(lambda: not containers_named(f"greenbar-run-{run_id}"), 15, "the orphan gone")
        events = docker.from_env().events(
            since=int(started),
            until=int(time.time()) + 1,
            decode=True,
            filters={"type": "container", "event": ["create", "rename"]},
        )
        # A fresh container is created under the run's name, a warm one renamed to it.
        named = [
            e for e in events if e["Actor"]["Attributes"].get("name") == f"greenbar-run-{run_id}"
        ]
        assert len(named) == 1, "a redelivered run never starts a second container"
        # The worker carries on with a fresh pool child.
        assert final(api, post(api, "child", ECHO), 20)["result"]["outcome"] == "green"


def test_a_worker_killed_outright_mid_run_is_reported_and_its_orphan_reaped(
    api: Any, server: RedisServer
) -> None:
    with scoped_worker(server, "whole") as worker:
        run_id = post(api, "whole", SLEEPY, max_seconds=20)
        running(api, run_id)
        _kill_tree(worker.pid)  # main process and pool children, no warm shutdown
        ended = final(api, run_id, 40)  # the heartbeat expires within 15 s
        assert ended["state"] == "error"
        assert "stopped while carrying it out" in ended["error"]
    assert containers_named(f"greenbar-run-{run_id}"), "nobody has reaped it yet"
    with scoped_worker(server, "whole"):  # a worker starting on the node reaps it
        wait_until(lambda: not containers_named(f"greenbar-run-{run_id}"), 15, "the orphan gone")


def _kill_tree(pid: int) -> None:
    parent = psutil.Process(pid)
    for process in [*parent.children(recursive=True), parent]:
        process.send_signal(signal.SIGKILL)


def test_queued_runs_survive_a_redis_restart_with_aof_and_the_worker_resumes_by_itself(
    api: Any, server: RedisServer
) -> None:
    with scoped_worker(server, "aof"):
        busy = post(api, "aof", {"cyber-dojo.sh": "sleep 4; echo PASSED"}, max_seconds=10)
        queued = [post(api, "aof", ECHO) for _ in range(3)]
        assert all(view(api, q)["state"] == "queued" for q in queued)
        time.sleep(1.5)  # appendfsync everysec
        server.kill()
        time.sleep(1)
        server.start()
        for run_id in [busy, *queued]:
            ended = final(api, run_id, 60)
            assert (ended["state"], ended["result"]["outcome"]) == ("done", "green"), ended
        later = post(api, "aof", ECHO)
        assert final(api, later, 30)["result"]["outcome"] == "green"


def test_without_persistence_lost_runs_are_reported_as_unknown_not_queued_forever(
    api: Any, server: RedisServer
) -> None:
    with scoped_worker(server, "aof"):
        blocker = post(api, "aof", {"cyber-dojo.sh": "sleep 3; echo PASSED"}, max_seconds=10)
        running(api, blocker)
        queued = post(api, "aof", ECHO)  # waits behind the blocker
        server.kill()
        server.forget_everything()
        server.start(appendonly=False)
        try:
            response = api.get(f"/runs/{queued}")
            assert response.status_code == 404
            assert "lost with a Redis" in response.get_json()["error"]["message"]
            # The blocker ends after the restart: its end is written, not lost or left running.
            wait_until(
                lambda: (
                    api.get(f"/runs/{blocker}").status_code == 200
                    and view(api, blocker)["state"] == "done"
                ),
                40,
                "the blocker's end to be written into the new Redis",
            )
        finally:
            server.kill()
            server.start()
            for track in ("child", "whole", "aof", "dock"):
                api.put(f"/tracks/{track}", json={"image": IMAGE})


def test_a_dockerd_restart_mid_run_reports_a_clear_error_and_the_next_run_works(
    api: Any, server: RedisServer, docker_client: docker.DockerClient
) -> None:
    with second_engine() as base_url:
        engine = docker.DockerClient(base_url=base_url, timeout=120)
        for image in (IMAGE, "greenbar/evaluator:latest"):  # the run's, and the lambda's
            engine.images.load(b"".join(docker_client.images.get(image).save(named=True)))
        extra = {"GREENBAR_TRACKS": "dock", "GREENBAR_PULLS_ENABLED": "false"}
        with celery_worker(
            "dock@faults", "dock-node", server.url, base_url, concurrency=1, extra_env=extra
        ) as dock_worker:
            run_id = post(api, "dock", SLEEPY, max_seconds=20)
            try:
                running(api, run_id)
            except BaseException:
                print(worker_log(dock_worker)[-5000:])
                raise
            restart_engine(base_url)
            ended = final(api, run_id, 40)
            said = ended.get("error") or ended["result"]["log"]
            assert ended["state"] == "error" or ended["result"]["outcome"] == "faulty", ended
            assert "docker engine" in said or "sandbox ended without a result" in said
            after = final(api, post(api, "dock", ECHO), 30)
            assert after["result"]["outcome"] == "green"
        engine.close()


def test_two_beats_do_the_periodic_work_once_per_period(server: RedisServer) -> None:
    env = {
        **os.environ,
        "GREENBAR_REDIS_URL": server.url,
        "GREENBAR_DEPLOYMENT": f"{DEPLOYMENT}-faults",
        "GREENBAR_PRUNE_INTERVAL_MINUTES": "0.05",  # every 3 s
        "GREENBAR_PULL_INTERVAL_MINUTES": "600",
        "GREENBAR_PULLS_ENABLED": "false",
    }
    client = redis.Redis.from_url(server.url)
    for key in client.scan_iter("celery-task-meta-*"):
        client.delete(key)
    with scoped_worker(server, "beats", GREENBAR_PRUNE_INTERVAL_MINUTES="0.05"):
        schedules = Path(tempfile.mkdtemp(prefix="greenbar-beat-"))
        beats = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "tasks.worker",
                    "beat",
                    "-l",
                    "warning",
                    "--schedule",
                    str(schedules / f"beat-{i}"),
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for i in range(2)
        ]
        try:
            time.sleep(13)
        finally:
            for beat in beats:
                beat.terminate()
                beat.wait(10)
        time.sleep(1)
    results = [json.loads(client.get(k))["result"] for k in client.scan_iter("celery-task-meta-*")]
    states = [r["state"] for r in results if isinstance(r, dict) and "state" in r]
    sent, skipped = states.count("sent"), states.count("skipped")
    assert skipped >= 2, f"both beats sent: {states}"
    assert 2 <= sent <= 6, f"about one prune per 3 s period in 13 s, not two: {states}"
