"""Soak: many runs at a fixed concurrency through a private stack, mixing normal runs, timeouts
and output floods. Prints the figures; exits 1 if any promise was broken.

Promises checked: every run reaches a final state; no container or volume labelled greenbar is
left once the stack has stopped; the worker's memory stays flat (its growth is printed, and a
growth over --max-growth-mib fails the soak).

Usage: .venv/bin/python bench/soak.py [--runs 1000] [--concurrency 8]
"""

import argparse
import json
import statistics
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import docker
import psutil

from bench.stack import private_stack

IMAGE = "greenbar/busybox-sh"
KINDS = {
    "normal": ({"cyber-dojo.sh": "echo PASSED"}, 10),
    "timeout": ({"cyber-dojo.sh": "echo started; sleep 30"}, 1),
    "flood": ({"cyber-dojo.sh": "dd if=/dev/zero bs=1M count=100 2>/dev/null | tr '\\0' x"}, 10),
}
MIX = ["normal"] * 8 + ["timeout", "flood"]


def post(url: str, kind: str) -> tuple[str, str, float]:
    files, max_seconds = KINDS[kind]
    body = json.dumps({"image": IMAGE, "files": files, "max_seconds": max_seconds}).encode()
    started = time.perf_counter()
    view = _call(f"{url}/runs?wait=25", body)
    while view.get("state") not in ("done", "error"):
        view = _call(f"{url}/runs/{view['id']}?wait=25", None)
    outcome = view["result"]["outcome"] if view["state"] == "done" else "error"
    return kind, outcome, time.perf_counter() - started


def _call(url: str, body: bytes | None) -> dict:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    for _ in range(100):
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            if error.code != 503:  # back-pressure: wait and send again
                raise
            time.sleep(float(error.headers.get("Retry-After", "1")))
    raise RuntimeError("still refused after 100 tries")


def tree_rss_mib(pid: int) -> float:
    parent = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)]) / 2**20


def labelled_leftovers() -> tuple[int, int]:
    client = docker.from_env()
    mine = {"label": "greenbar.deployment=bench"}
    return len(client.containers.list(all=True, filters=mine)), len(
        client.volumes.list(filters=mine)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-growth-mib", type=float, default=50)
    args = parser.parse_args()
    kinds = [MIX[i % len(MIX)] for i in range(args.runs)]
    with private_stack(concurrency=4) as stack:
        with ThreadPoolExecutor(args.concurrency) as pool:  # warm up, then measure memory
            list(pool.map(lambda k: post(stack.url, k), kinds[:50]))
        memory = [tree_rss_mib(stack.worker_pid)]
        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            results = list(pool.map(lambda k: post(stack.url, k), kinds))
        elapsed = time.perf_counter() - started
        memory.append(tree_rss_mib(stack.worker_pid))
    time.sleep(1)
    containers, volumes = labelled_leftovers()
    outcomes = Counter(f"{kind}:{outcome}" for kind, outcome, _ in results)
    figures = {
        "benchmark": "soak",
        "runs": len(results),
        "concurrency": args.concurrency,
        "seconds": round(elapsed, 1),
        "runs_per_second": round(len(results) / elapsed, 2),
        "outcomes": dict(sorted(outcomes.items())),
        "p50_ms_by_kind": {
            k: round(statistics.median(s * 1000 for kk, _, s in results if kk == k), 1)
            for k in KINDS
        },
        "worker_rss_mib_before_after": [round(m, 1) for m in memory],
        "worker_rss_growth_mib": round(memory[1] - memory[0], 1),
        "containers_left": containers,
        "volumes_left": volumes,
    }
    print(json.dumps(figures, indent=2))
    broken = (
        len(results) != args.runs
        or containers
        or volumes
        or figures["worker_rss_growth_mib"] > args.max_growth_mib
        or any(outcome == "error" for _, outcome, _ in results)
    )
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
