"""Traffic-light costs: a cache hit in the worker, the first read per digest, POST /colours?wait.

Each figure comes with a baseline measured in the same run:
- a cache hit (TrafficLight.colour, trusted lambda, memory and tracer included) against a bare
  call of the same compiled function: what the cache, validation and time limit add;
- the first read of a digest (Redis miss, a created container's archive read, Redis write)
  against a raw hardened `docker run` of a trivial program: what reading would cost if it ran
  the image;
- POST /colours?wait end to end against GET /alive on the same server: the HTTP floor.

Usage: .venv/bin/python bench/colour.py [--hits N] [--reads N] [--posts N]
Target (issue 3): cache-hit p99 <= 1 ms.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis

from app.config import Settings
from app.engine import Engine
from app.rag_cache import RagCache
from app.rag_lambda import RagLambda
from app.rag_sandbox import SandboxedLambda
from app.runner import Runner
from app.traffic_light import TrafficLight
from bench.run_latency import raw_command
from bench.stack import private_stack

IMAGE = "greenbar/python-pytest"
STDOUT = "F.\n=== FAILURES ===\n1 failed, 1 passed in 0.01s\n" * 20


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


def cache_hits(light: TrafficLight, own: RagLambda, digest: str, n: int) -> dict[str, object]:
    assert own.function is not None
    function = own.function
    light.colour(digest, STDOUT, "", 1)  # warm
    ours = timed(lambda: light.colour(digest, STDOUT, "", 1), n)
    bare = timed(lambda: function(STDOUT, "", 1), n)
    mine, base = percentiles(ours), percentiles(bare)
    return {
        "greenbar": mine,
        "bare_call": base,
        "target_p99_ms": 1.0,
        "meets_target": mine["p99_ms"] <= 1.0,
    }


def first_reads(cache: RagCache, client: redis.Redis, digest: str, n: int) -> dict[str, object]:
    def read_afresh() -> None:
        client.delete(f"greenbar:rag:{digest}")
        assert cache.source(digest) is not None

    ours = percentiles(timed(read_afresh, n))
    command = raw_command(Settings.from_env({}), IMAGE)
    raw = percentiles(timed(lambda: subprocess.run(command, capture_output=True, check=True), n))
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
    parser.add_argument("--reads", type=int, default=20)
    parser.add_argument("--posts", type=int, default=200)
    args = parser.parse_args()
    with private_stack() as stack:
        settings = Settings.from_env({}, redis_url=stack.redis_url)
        client = redis.Redis.from_url(settings.redis_url)
        engine = Engine.from_env()
        digest = engine.image_id(IMAGE)
        cache = RagCache(client, engine, 3600, 60)
        light = TrafficLight(cache, SandboxedLambda(Runner(engine, settings), 1.0), 1.0)
        own = cache.lambda_for(digest)
        assert own is not None
        figures = {
            "benchmark": "colour",
            "image": IMAGE,
            "cache_hit_in_worker": cache_hits(light, own, digest, args.hits),
            "first_read_per_digest": first_reads(cache, client, digest, args.reads),
            "post_colours_wait": posts(stack.url, args.posts),
        }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
