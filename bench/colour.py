"""Traffic-light costs: a cache hit through the resident evaluator, a client's copy in a one-shot
evaluator, the first read per digest, POST /colours?wait.

Each figure comes with a baseline measured in the same run:
- a cache hit (TrafficLight.colour of an image's own lambda: memory cache, JSON over the
  evaluator's unix socket, the evaluator's call and checks, the reply) against the bare round trip
  of the same request line to an echoing python3 in a container of the same image and settings,
  over a unix socket in its volume (the hit's transport) and over the attach socket (the hit's
  transport before, and still its fallback), and against calling the compiled function in this
  process (what a hit cost before the boundary), in alternating blocks so that all four see the
  same load;
- a client's copy (a one-shot evaluator: create, attach, start, call, remove) and the first read
  of a digest (Redis miss, a created container's stat and bounded archive read, Redis write),
  each against a raw hardened `docker run` of a trivial program;
- POST /colours?wait end to end against GET /alive on the same server: the HTTP floor.

Usage: .venv/bin/python bench/colour.py [--hits N] [--shots N] [--reads N] [--posts N]
Target (issue 11): cache-hit p99 <= 1 ms.
"""

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis

from app.colour.evaluator import container
from app.colour.evaluator.channel import Channel
from app.colour.evaluator.one_shot import OneShotEvaluator
from app.colour.evaluator.resident import ResidentEvaluator
from app.colour.evaluator.socket_channel import SOCKET_NAME, WAIT_SECONDS, SocketChannel, connected
from app.colour.evaluator.wire import Call
from app.colour.rag_cache import RagCache
from app.colour.traffic_light import TrafficLight
from app.config import Settings
from app.externals.engine import Engine
from app.outcomes import Output
from bench.run_latency import raw_command
from bench.stack import private_stack

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "greenbar/python-pytest"
STDOUT = "F.\n=== FAILURES ===\n1 failed, 1 passed in 0.01s\n" * 20
COPY = "def colour(stdout, stderr, status):\n    return 'red' if status else 'green'\n"
ECHO = "import os, sys\nfor line in iter(sys.stdin.buffer.readline, b''):\n    os.write(1, line)\n"
SOCKET_ECHO = (
    "import os, socket\n"
    "listener = socket.socket(socket.AF_UNIX)\n"
    "os.umask(0o177)\n"
    f"listener.bind('{container.SOCKET_DIR}/{SOCKET_NAME}')\n"
    "listener.listen(1)\n"
    "connection = listener.accept()[0]\n"
    "for line in iter(connection.makefile('rb').readline, b''):\n"
    "    connection.sendall(line)\n"
)


def percentiles(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    cuts = statistics.quantiles(ms, n=100)
    return {
        "p50_ms": round(statistics.median(ms), 4),
        "p99_ms": round(cuts[98], 4),
        "n": len(ms),
    }


def timed(action: Callable[[], object], times: int) -> list[float]:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return samples


def echo_channel(engine: Engine, settings: Settings) -> tuple[str, Channel]:
    """An echoing python3 in a container with the evaluator's image and settings."""
    name = f"{container.PREFIX}bench-echo-{secrets.token_hex(4)}"
    spec = container.spec(name, container.labels(settings))
    engine.create({**spec, "command": ["python3", "-I", "-S", "-c", ECHO]})
    sock = engine.attach(name)
    engine.start(name)
    return name, Channel(sock, container.REPLY_CAP_BYTES, time.monotonic)


def socket_echo_channel(engine: Engine, settings: Settings) -> tuple[str, SocketChannel]:
    """An echoing python3 on a unix socket in its volume, the evaluator's image and settings."""
    name = f"{container.PREFIX}bench-socket-echo-{secrets.token_hex(4)}"
    spec = container.spec(name, container.labels(settings), socket=True)
    engine.create({**spec, "command": ["python3", "-I", "-S", "-c", SOCKET_ECHO]})
    source = engine.mount_source(name, container.SOCKET_DIR)
    sock = engine.attach(name)
    engine.start(name)
    found = connected(source or "", container.UID, WAIT_SECONDS)
    if found is None:
        engine.remove(name)
        raise SystemExit(f"no echo socket at {source}: is the engine on this host?")
    lifeline = Channel(sock, container.REPLY_CAP_BYTES, time.monotonic)
    return name, SocketChannel(found, lifeline, container.REPLY_CAP_BYTES, time.monotonic)


def interleaved(actions: dict[str, Callable[[], object]], n: int) -> dict[str, list[float]]:
    """`n` timings of each action, taken in alternating blocks so that all see the same load."""
    samples: dict[str, list[float]] = {name: [] for name in actions}
    block = max(n // 40, 1)
    for _ in range(-(-n // block)):
        for name, action in actions.items():
            samples[name] += timed(action, block)
    return samples


def cache_hits(
    light: TrafficLight,
    resident: ResidentEvaluator,
    engine: Engine,
    settings: Settings,
    digest: str,
    n: int,
) -> Any:
    own = (ROOT / "images" / "python-pytest" / "red_amber_green.py").read_text()
    namespace: dict[str, Any] = {}
    exec(compile(own, "red_amber_green.py", "exec"), namespace)  # the bundled image's own file
    function = namespace["colour"]
    line = Call(digest, "python", own, Output(STDOUT, "", 1), 1.0).encode(with_source=False)
    name, echo = echo_channel(engine, settings)
    socket_name, socket_echo = socket_echo_channel(engine, settings)
    try:
        light.colour(
            digest, Output(STDOUT, "", 1)
        )  # warm: the evaluator starts, the lambda compiles
        light_over_socket = resident.over_socket
        echo.ask(line, time.monotonic() + 10)
        socket_echo.ask(line, time.monotonic() + 10)
        samples = interleaved(
            {
                "greenbar": lambda: light.colour(digest, Output(STDOUT, "", 1)),
                "unix_socket_echo_round_trip": lambda: socket_echo.ask(line, time.monotonic() + 10),
                "attach_echo_round_trip": lambda: echo.ask(line, time.monotonic() + 10),
                "in_process_call": lambda: function(STDOUT, "", 1),
            },
            n,
        )
    finally:
        echo.close()
        socket_echo.close()
        engine.remove(name)
        engine.remove(socket_name)
    ours = percentiles(samples["greenbar"])
    base = percentiles(samples["unix_socket_echo_round_trip"])
    return {
        "over_the_unix_socket": light_over_socket,
        **{key: percentiles(values) for key, values in samples.items()},
        "ratio_p50_to_socket_echo": round(ours["p50_ms"] / base["p50_ms"], 2),
        "ratio_p99_to_socket_echo": round(ours["p99_ms"] / base["p99_ms"], 2),
        "target_p99_ms": 1.0,
        "meets_target": ours["p99_ms"] <= 1.0,
    }


def one_shots(light: TrafficLight, settings: Settings, digest: str, n: int) -> dict[str, Any]:
    def once() -> None:
        verdict = light.colour(digest, Output(STDOUT, "", 1), COPY, f"bench-{secrets.token_hex(8)}")
        assert verdict.outcome == "red", verdict

    ours = percentiles(timed(once, n))
    raw = raw_docker_runs(settings, n)
    return {
        "greenbar": ours,
        "raw_docker_run": raw,
        "ratio_p50": round(ours["p50_ms"] / raw["p50_ms"], 3),
    }


def raw_docker_runs(settings: Settings, n: int) -> dict[str, float]:
    command = raw_command(settings, IMAGE)
    return percentiles(timed(lambda: subprocess.run(command, capture_output=True, check=True), n))


def first_reads(
    cache: RagCache, client: redis.Redis, settings: Settings, digest: str, n: int
) -> Any:
    def read_afresh() -> None:
        client.delete(f"greenbar:rag:{digest}")
        assert cache.fetch(digest) is not None

    ours = percentiles(timed(read_afresh, n))
    raw = raw_docker_runs(settings, n)
    return {
        "greenbar": ours,
        "raw_docker_run": raw,
        "ratio_p50": round(ours["p50_ms"] / raw["p50_ms"], 3),
    }


def posts(url: str, n: int) -> dict[str, object]:
    body = json.dumps({"image": IMAGE, "stdout": STDOUT, "stderr": "", "status": 1}).encode()

    def post() -> None:
        request = urllib.request.Request(
            f"{url}/colours?wait=20", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.load(response)["result"]["outcome"] == "red"

    def alive() -> None:
        with urllib.request.urlopen(f"{url}/alive", timeout=5) as response:
            response.read()

    post()
    ours, floor = percentiles(timed(post, n)), percentiles(timed(alive, n))
    return {
        "greenbar": ours,
        "get_alive": floor,
        "ratio_p50": round(ours["p50_ms"] / floor["p50_ms"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=10000)
    parser.add_argument("--shots", type=int, default=20)
    parser.add_argument("--reads", type=int, default=20)
    parser.add_argument("--posts", type=int, default=200)
    args = parser.parse_args()
    # No warm pool: its keeper creating containers in the background is noise in a hit's p99.
    with private_stack(GREENBAR_POOL_SIZE="0") as stack:
        settings = Settings.from_env({}, redis_url=stack.redis_url, deployment="bench")
        client = redis.Redis.from_url(settings.redis_url)
        engine = Engine.from_env()
        digest = engine.image_id(IMAGE)
        cache = RagCache(client, engine, 3600, 60, deployment="bench")
        resident = ResidentEvaluator(engine, settings)
        light = TrafficLight(cache, resident, OneShotEvaluator(engine, settings), 1.0)
        try:
            figures = {
                "benchmark": "colour",
                "image": IMAGE,
                "cache_hit_through_the_resident_evaluator": cache_hits(
                    light, resident, engine, settings, digest, args.hits
                ),
                "client_copy_in_a_one_shot_evaluator": one_shots(
                    light, settings, digest, args.shots
                ),
                "first_read_per_digest": first_reads(cache, client, settings, digest, args.reads),
                "post_colours_wait": posts(stack.url, args.posts),
            }
        finally:
            resident.close()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
