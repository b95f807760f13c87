"""The API as the Procfile serves it (gunicorn, gevent workers): no slow or waiting client
starves it, a long poll ends when its run does, and it listens beyond loopback only when told
to and protected (issue 12, findings 3 and 6).

Before: gunicorn's 2 workers x 8 threads; sixteen slow bodies or sixteen long polls held
`/alive` for up to 60 s, and the API listened on 0.0.0.0 with no tokens.
"""

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis
from honcho.environ import parse_procfile

from app.config import Settings
from app.externals.end_notices import EndNotices
from app.jobs.records import RUNS, JobStore, JobView
from app.jobs.requests import RunRequest
from app.outcomes import Outcome
from tests.helpers import a_result, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 30
SLOW_CLIENTS = 64
# A safety bound, not a timing target (bench/p6.py measures): before, /alive took 60 s.
ANSWER_BOUND_SECONDS = 5


def web_command() -> str:
    """The Procfile's web line, run with this test's interpreter."""
    line = str(parse_procfile((ROOT / "Procfile").read_text()).processes["web"])
    return line.replace(".venv/bin/", f"{Path(sys.executable).parent}/")


@contextlib.contextmanager
def api_server(settings: Settings, log: Path, **env: str) -> Iterator[tuple[str, Any]]:
    """Runs the Procfile's web process on a free port; yields its URL and process once
    `/alive` answers."""
    port = free_port()
    environment = {
        **os.environ,
        "GREENBAR_REDIS_URL": settings.redis_url,
        "GREENBAR_NODE": settings.node,
        "GREENBAR_PORT": str(port),
        **env,
    }
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["sh", "-c", web_command()],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: process.poll() is not None or _alive(url), START_SECONDS, "the API")
        if process.poll() is not None:
            pytest.fail(f"the API exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        yield url, process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        process.wait(30)


def _alive(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/alive", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _get(url: str, timeout: float = 40) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def _post_run(url: str) -> dict[str, Any]:
    body = json.dumps({"image": "greenbar/busybox-sh", "files": {"cyber-dojo.sh": "echo hi"}})
    request = urllib.request.Request(
        url + "/runs?wait=20", data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=40) as response:
        answer: dict[str, Any] = json.load(response)
    return answer


def _queued_runs(settings: Settings, count: int) -> list[str]:
    """Runs recorded as queued and never sent to a worker: a long poll on one waits it out."""
    store = JobStore(redis.Redis.from_url(settings.redis_url), 600, RUNS)
    ids = [secrets.token_hex(16) for _ in range(count)]
    for run_id in ids:
        store.enqueue(run_id, RunRequest("greenbar/busybox-sh"))
    return ids


def _slow_body(url: str) -> socket.socket:
    """A connection that sent a POST's headers and one byte of its 1000-byte body."""
    port = int(url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(
        b"POST /runs HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n{"
    )
    return sock


@pytest.fixture(scope="module")
def api(settings: Settings, worker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("edge") / "web.log"
    with api_server(settings, log, GREENBAR_BODY_READ_SECONDS="60") as (url, _):
        yield url


def test_sixty_four_slow_bodies_and_sixty_four_long_polls_leave_alive_and_runs_answering(
    api: str, settings: Settings
) -> None:
    slow = [_slow_body(api) for _ in range(SLOW_CLIENTS)]
    polls = [
        threading.Thread(target=_get, args=(f"{api}/runs/{run_id}?wait=20",), daemon=True)
        for run_id in _queued_runs(settings, SLOW_CLIENTS)
    ]
    try:
        for poll in polls:
            poll.start()
        time.sleep(1)  # every one of them connected and held
        started = time.monotonic()
        assert _get(api + "/alive", timeout=ANSWER_BOUND_SECONDS)[0] == 200
        alive_seconds = time.monotonic() - started
        view = _post_run(api)
        assert view["state"] == "done", view
        assert view["result"]["stdout"]["content"] == "hi\n"
        assert alive_seconds < ANSWER_BOUND_SECONDS
    finally:
        for sock in slow:
            sock.close()


def test_a_long_poll_answers_as_soon_as_its_run_ends(api: str, settings: Settings) -> None:
    [run_id] = _queued_runs(settings, 1)
    answers: list[tuple[float, Any]] = []
    started = time.monotonic()
    poll = threading.Thread(
        target=lambda: answers.append((time.monotonic(), _get(f"{api}/runs/{run_id}?wait=20"))),
    )
    poll.start()
    time.sleep(1)  # it waits
    store = JobStore(redis.Redis.from_url(settings.redis_url), 600, RUNS)
    store.finish(run_id, a_result(Outcome.GREEN))
    poll.join(30)
    [(answered, (status, view))] = answers
    assert status == 200 and view["state"] == "done"
    assert answered - started < 10  # the notice woke it, long before its 20 s


@pytest.mark.slow
def test_waiting_clients_share_one_redis_subscription(api: str, settings: Settings) -> None:
    client = redis.Redis.from_url(settings.redis_url)
    before = len(client.client_list())
    polls = [
        threading.Thread(target=_get, args=(f"{api}/runs/{run_id}?wait=6",), daemon=True)
        for run_id in _queued_runs(settings, SLOW_CLIENTS)
    ]
    for poll in polls:
        poll.start()
    time.sleep(2)
    during = len(client.client_list())
    for poll in polls:
        poll.join(30)
    # Before: each waiter blocked a connection of its own (BLMOVE), 64 more.
    assert during - before < SLOW_CLIENTS / 4, (before, during)


def test_a_body_that_does_not_arrive_in_time_is_answered_408(
    settings: Settings, worker: Any, tmp_path: Path
) -> None:
    with api_server(settings, tmp_path / "web.log", GREENBAR_BODY_READ_SECONDS="1") as (url, _):
        sock = _slow_body(url)
        started = time.monotonic()
        answer = _response(sock)
        sock.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"did not arrive within 1 s" in answer
    assert time.monotonic() - started < ANSWER_BOUND_SECONDS


def _response(sock: socket.socket) -> bytes:
    """One whole HTTP response: its head, then as many bytes as its Content-Length says
    (they may come in several segments)."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(4096) or b"\r\n\r\n"
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    length = int(head.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
    while len(answer.split(b"\r\n\r\n", 1)[1]) < length:
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    return answer


def _listening_addresses(process: Any) -> set[str]:
    """The addresses the process and its children listen on (a child may come and go: each
    worker runs `git rev-parse` once as it starts)."""
    found = set()
    for child in [psutil.Process(process.pid), *psutil.Process(process.pid).children(True)]:
        try:
            connections = child.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, FileNotFoundError):
            continue
        found |= {c.laddr.ip for c in connections if c.status == psutil.CONN_LISTEN}
    return found


def test_the_api_listens_on_loopback_by_default(
    settings: Settings, worker: Any, tmp_path: Path
) -> None:
    with api_server(settings, tmp_path / "web.log") as (_, process):
        assert _listening_addresses(process) == {"127.0.0.1"}


def test_the_api_refuses_to_listen_beyond_loopback_without_tokens(
    settings: Settings, tmp_path: Path
) -> None:
    env = {**os.environ, "GREENBAR_REDIS_URL": settings.redis_url, "GREENBAR_BIND": "0.0.0.0"}
    env.pop("GREENBAR_CLIENT_TOKENS", None)
    done = subprocess.run(
        ["sh", "-c", web_command()],
        cwd=ROOT,
        env={**env, "GREENBAR_PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "GREENBAR_BIND=0.0.0.0 is beyond loopback" in done.stderr
    assert "GREENBAR_INSECURE_OPEN=1" in done.stderr


def test_an_api_opened_on_purpose_says_so_at_start(
    settings: Settings, worker: Any, tmp_path: Path
) -> None:
    log = tmp_path / "web.log"
    env = {"GREENBAR_BIND": "0.0.0.0", "GREENBAR_INSECURE_OPEN": "1"}
    with api_server(settings, log, **env) as (_, process):
        assert _listening_addresses(process) == {"0.0.0.0"}
    assert "GREENBAR_INSECURE_OPEN: the API is reached on 0.0.0.0 with no tokens" in (
        log.read_text()
    )


def test_an_api_with_tokens_may_listen_beyond_loopback(
    settings: Settings, worker: Any, tmp_path: Path
) -> None:
    log = tmp_path / "web.log"
    env = {"GREENBAR_BIND": "0.0.0.0", "GREENBAR_CLIENT_TOKENS": "s3cret-client"}
    with api_server(settings, log, **env) as (_, process):
        assert _listening_addresses(process) == {"0.0.0.0"}
    assert "GREENBAR_INSECURE_OPEN" not in log.read_text()


def test_a_lost_subscription_still_ends_a_wait_when_its_run_ends(settings: Settings) -> None:
    client = redis.Redis.from_url(settings.redis_url)
    notices = EndNotices(client)
    store = JobStore(client, 600, RUNS, notices=notices)
    [run_id] = _queued_runs(settings, 1)
    views: list[JobView] = []
    waiting = threading.Thread(target=lambda: views.append(store.wait(run_id, 20)))
    waiting.start()
    wait_until(lambda: notices.waiting() == 1, 5, "the waiter")
    time.sleep(0.5)
    client.client_kill_filter(_type="pubsub")  # as a Redis restart would
    time.sleep(0.2)
    JobStore(client, 600, RUNS).finish(run_id, a_result(Outcome.RED))  # its notice may be lost
    waiting.join(20)
    assert views and views[0].state == "done"
