"""P6: the API under a thousand long polls and a hundred slow bodies, against itself idle.

One private stack (bench/stack.py: Redis, a worker, the API as the Procfile runs it). First,
idle: GET /alive latency and a trivial run's POST /runs?wait latency. Then, with
- `--waiters` clients each long-polling GET /runs/<id>?wait=25 on runs that stay queued
  (records made directly in Redis, so the worker stays free for the measured runs), polling
  again each time an answer comes back, and
- `--tricklers` connections each sending a POST's headers and then its body one byte a second
  (answered 408 after GREENBAR_BODY_READ_SECONDS; each connects again),
the same two measurements again. Every status of every answer is counted; any 5xx is reported.

The load comes from a second process at nice 10: deployed, the clients are other machines; here
they share the API's two cores, and the figures should be the API's, not the load generator's.

Target (issue 12): under load, /alive p99 <= 50 ms, the run's p50 within 1.5x of idle, no 5xx.
`--server threads` runs the same against gunicorn's 2 workers x 8 threads (the server before
issue 12) for comparison.

Usage: .venv/bin/python bench/p6.py [--waiters N] [--tricklers N] [--server gevent|threads]
"""

# ruff: noqa: E402 - the imports follow the patching, so every socket below is green
from gevent import monkey

monkey.patch_all()

import argparse
import collections
import http.client
import json
import os
import random
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import gevent
import gevent.event
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.jobs.records import RUNS, JobStore
from app.jobs.requests import RunRequest
from bench.stack import private_stack

IMAGE = "greenbar/busybox-sh"
RUN = json.dumps({"image": IMAGE, "files": {"cyber-dojo.sh": "echo hello"}}).encode()
THREADS = ["--workers", "2", "--threads", "8", "--timeout", "60", "--bind", "127.0.0.1:{port}"]
TRICKLE_LENGTH = 1000
WAIT_SECONDS = 25
CLIENT_TIMEOUT_SECONDS = 30
START_SPREAD_SECONDS = 5
RUN_GAP_SECONDS = 0.5
statuses: collections.Counter[int] = collections.Counter()


def request(host: str, port: int, method: str, path: str, body: bytes | None = None) -> bytes:
    connection = http.client.HTTPConnection(host, port, timeout=CLIENT_TIMEOUT_SECONDS)
    try:
        headers = {"Content-Type": "application/json"} if body else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        statuses[response.status] += 1
        return response.read()
    finally:
        connection.close()


def timed(host: str, port: int, method: str, path: str, body: bytes | None = None) -> float:
    """Seconds to an answer; a request with none within the client's timeout counts as its
    timeout, under the status 0."""
    started = time.perf_counter()
    try:
        request(host, port, method, path, body)
    except TimeoutError:
        statuses[0] += 1
    return time.perf_counter() - started


def alive_samples(host: str, port: int, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        samples.append(timed(host, port, "GET", "/alive"))
        gevent.sleep(0.05)
    return samples


def run_samples(host: str, port: int, count: int) -> list[float]:
    """Trivial runs one at a time, RUN_GAP_SECONDS apart: the latency of a run, not of a
    burst (the worker refills its warm pool between runs; P2 in bench/speed.py measures
    throughput)."""
    samples = []
    for _ in range(count):
        gevent.sleep(RUN_GAP_SECONDS)
        started = time.perf_counter()
        try:
            view = json.loads(request(host, port, "POST", "/runs?wait=25", RUN))
            assert view["result"]["stdout"]["content"] == "hello\n", view
        except TimeoutError:
            statuses[0] += 1  # no answer within the client's timeout: counted as that long
        samples.append(time.perf_counter() - started)
    return samples


def waiter(host: str, port: int, run_id: str) -> None:
    gevent.sleep(random.uniform(0, START_SPREAD_SECONDS))  # clients do not arrive in step
    while True:
        try:
            request(host, port, "GET", f"/runs/{run_id}?wait={WAIT_SECONDS}")
        except OSError:
            statuses[0] += 1  # the connection failed: counted apart from any status
            gevent.sleep(1)


def trickler(host: str, port: int) -> None:
    head = (
        f"POST /runs HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {TRICKLE_LENGTH}\r\n\r\n"
    ).encode()
    while True:
        try:
            with socket.create_connection((host, port), timeout=120) as sock:
                sock.sendall(head)
                for _ in range(TRICKLE_LENGTH):
                    sock.sendall(b" ")
                    if answer := _answer_within(sock, 1):  # answered: count it, go again
                        _count_status(answer)
                        break
        except OSError:
            statuses[0] += 1
        gevent.sleep(0.1)


def _answer_within(sock: socket.socket, seconds: float) -> bytes:
    """What the server sent within `seconds` (b"" if nothing)."""
    sock.settimeout(seconds)
    try:
        return sock.recv(4096) or b"HTTP/1.1 000 closed"
    except TimeoutError:
        return b""
    finally:
        sock.settimeout(120)


def _count_status(answer: bytes) -> None:
    """Counts the status of a raw HTTP answer (0 when the server just closed)."""
    words = answer.split(b" ", 2)
    statuses[int(words[1]) if len(words) > 1 and words[1].isdigit() else 0] += 1


def percentiles(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    return {
        "p50_ms": round(statistics.median(ms), 1),
        "p99_ms": round(statistics.quantiles(ms, n=100, method="inclusive")[98], 1),
        "max_ms": round(ms[-1], 1),
        "n": len(ms),
    }


def queued_runs(redis_url: str, count: int) -> list[str]:
    """Runs recorded as queued and never sent: their waiters wait the whole ?wait."""
    store = JobStore(redis.Redis.from_url(redis_url), 3600, RUNS)
    ids = [secrets.token_hex(16) for _ in range(count)]
    for run_id in ids:
        store.enqueue(run_id, RunRequest(IMAGE))
    return ids


def load(url: str, ids: list[str], tricklers: int) -> None:
    """The load process: waiters on `ids` and `tricklers` until SIGTERM, then the statuses
    it saw as one JSON line."""
    address = urlsplit(url)
    host, port = address.hostname or "127.0.0.1", address.port or 80
    stop = gevent.event.Event()
    gevent.signal_handler(signal.SIGTERM, stop.set)
    greenlets = [gevent.spawn(waiter, host, port, run_id) for run_id in ids]
    greenlets += [gevent.spawn(trickler, host, port) for _ in range(tricklers)]
    stop.wait()
    gevent.killall(greenlets, timeout=5)
    print(json.dumps(dict(statuses)))


def loaded(stack_url: str, ids: list[str], tricklers: int) -> subprocess.Popen:
    command = [sys.executable, __file__, "--load", stack_url, "--tricklers", str(tricklers), *ids]
    return subprocess.Popen(command, stdout=subprocess.PIPE, preexec_fn=lambda: os.nice(10))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiters", type=int, default=1000)
    parser.add_argument("--tricklers", type=int, default=100)
    parser.add_argument("--alive", type=int, default=300, help="/alive samples per phase")
    parser.add_argument("--runs", type=int, default=60, help="trivial runs per phase")
    parser.add_argument("--server", choices=["gevent", "threads"], default="gevent")
    parser.add_argument("--load", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("ids", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.load:
        return load(args.load, args.ids, args.tricklers)
    web = THREADS if args.server == "threads" else None
    with private_stack(web=web, GREENBAR_BODY_READ_SECONDS="10") as stack:
        address = urlsplit(stack.url)
        host, port = address.hostname or "127.0.0.1", address.port or 80
        run_samples(host, port, 2)  # warm the pool and the rag cache
        idle_alive = alive_samples(host, port, args.alive)
        idle_runs = run_samples(host, port, args.runs)
        idle_statuses = dict(statuses)
        statuses.clear()
        ids = queued_runs(stack.redis_url, args.waiters)
        generator = loaded(stack.url, ids, args.tricklers)
        gevent.sleep(10)  # every waiter connected and waiting
        loaded_alive = alive_samples(host, port, args.alive)
        loaded_runs = run_samples(host, port, args.runs)
        generator.terminate()
        out, _ = generator.communicate(timeout=60)
        load_statuses = {int(k): n for k, n in json.loads(out.decode().splitlines()[-1]).items()}
    statuses.update(load_statuses)
    idle, busy = percentiles(idle_alive), percentiles(loaded_alive)
    runs_idle, runs_loaded = percentiles(idle_runs), percentiles(loaded_runs)
    server_errors = sum(n for status, n in statuses.items() if status >= 500)
    print(
        json.dumps(
            {
                "benchmark": "p6",
                "server": args.server,
                "waiters": args.waiters,
                "tricklers": args.tricklers,
                "alive_idle": idle,
                "alive_loaded": busy,
                "run_idle": runs_idle,
                "run_loaded": runs_loaded,
                "alive_p99_loaded_ms": busy["p99_ms"],
                "alive_p99_target_ms": 50,
                "run_p50_ratio": round(runs_loaded["p50_ms"] / runs_idle["p50_ms"], 3),
                "run_p50_ratio_target": 1.5,
                "statuses_idle": idle_statuses,
                "statuses_loaded": {str(k): n for k, n in sorted(statuses.items())},
                "server_errors": server_errors,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
