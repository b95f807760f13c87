"""Issue 8's targets, measured side by side with raw hardened `docker run`s in the same run.

- P1: a trivial run through the whole stack (POST /runs?wait), p50, against a raw `docker run`
  of the same image and program with the same settings (target: ratio <= 0.5).
- P2: sustained trivial runs per second through the whole stack at concurrency 8, against raw
  parallel `docker run`s at the same concurrency (target: ratio >= 1.0).
- P5: the worker's memory (its whole process tree) before and after the P2 runs.

Usage: .venv/bin/python bench/speed.py [--p1-runs 50] [--p2-runs 1000] [--concurrency 8]
Prints one JSON object.
"""

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.config import Settings
from bench.run_latency import raw_command, time_greenbar, time_raw
from bench.soak import tree_rss_mib
from bench.stack import private_stack

IMAGE = "greenbar/busybox-sh"


def throughput(action: Callable[[], object], runs: int, concurrency: int) -> float:
    """Runs per second doing `action` `runs` times with `concurrency` at once."""
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda _: action(), range(runs)))
    return runs / (time.perf_counter() - started)


def p1(url: str, command: list[str], runs: int) -> dict[str, float]:
    ours, raw = [], []
    for _ in range(runs):  # interleaved, so noise hits both alike
        raw.append(time_raw(command))
        ours.append(time_greenbar(url, IMAGE))
        time.sleep(0.05)  # the pool refills between sequential runs, as between a learner's
    mine, base = statistics.median(ours) * 1000, statistics.median(raw) * 1000
    return {
        "greenbar_p50_ms": round(mine, 1),
        "raw_docker_run_p50_ms": round(base, 1),
        "ratio": round(mine / base, 3),
        "target_ratio_at_most": 0.5,
    }


def p2(url: str, command: list[str], runs: int, concurrency: int) -> dict[str, float]:
    raw = throughput(lambda: time_raw(command), min(runs, 200), concurrency)
    ours = throughput(lambda: time_greenbar(url, IMAGE), runs, concurrency)
    return {
        "greenbar_runs_per_second": round(ours, 2),
        "raw_docker_runs_per_second": round(raw, 2),
        "ratio": round(ours / raw, 3),
        "target_ratio_at_least": 1.0,
        "concurrency": concurrency,
        "greenbar_runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--p1-runs", type=int, default=50)
    parser.add_argument("--p2-runs", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    command = raw_command(Settings.from_env({}), IMAGE)
    pool = str(args.concurrency)
    with private_stack(concurrency=args.concurrency, GREENBAR_POOL_SIZE=pool) as stack:
        time_raw(command), time_greenbar(stack.url, IMAGE)  # warm both paths
        time.sleep(3)  # the pool fills
        first = p1(stack.url, command, args.p1_runs)
        before = tree_rss_mib(stack.worker_pid)
        second = p2(stack.url, command, args.p2_runs, args.concurrency)
        after = tree_rss_mib(stack.worker_pid)
    print(
        json.dumps(
            {
                "benchmark": "speed",
                "image": IMAGE,
                "P1": first,
                "P2": second,
                "P5": {
                    "worker_rss_mib_before": round(before, 1),
                    "worker_rss_mib_after": round(after, 1),
                    "growth_mib": round(after - before, 1),
                    "runs_between": args.p2_runs,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
