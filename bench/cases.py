"""Test cases against separate runs, side by side in one private stack (issue 15).

The same small Python program (read a number, print its square) checked on 20 inputs:
- one run carrying 20 `cases` (one container; cyber-dojo.sh once per case), against
- 20 runs of one input each, one after another as a client without cases would send them,
  and the same 20 sent at once (the worker's concurrency decides how many run together).

Rounds alternate the three so that noise hits them alike; the figures are medians over the
rounds, wall time from the first POST to the last result.

Usage: .venv/bin/python bench/cases.py [--cases 20] [--rounds 5]
Prints one JSON object.
"""

import argparse
import json
import statistics
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stack import private_stack

IMAGE = "greenbar/python-pytest"
FILES = {
    "cyber-dojo.sh": "python3 square.py",
    "square.py": "n = int(input())\nprint(n * n)\n",
}


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{url}/runs?wait=25",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        view: dict[str, Any] = json.load(response)
    assert view["state"] == "done", view
    return view["result"]


def one_run_of_cases(url: str, count: int) -> float:
    cases = [{"stdin": f"{n}\n", "expected_stdout": f"{n * n}\n"} for n in range(count)]
    started = time.perf_counter()
    result = post(url, {"image": IMAGE, "files": FILES, "cases": cases, "max_seconds": 20})
    elapsed = time.perf_counter() - started
    assert result["outcome"] == "green", result["log"]
    return elapsed


def separate_run(url: str, n: int) -> None:
    result = post(url, {"image": IMAGE, "files": FILES, "stdin": f"{n}\n"})
    assert result["stdout"]["content"] == f"{n * n}\n", result


def separate_runs(url: str, count: int, at_once: int) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(at_once) as pool:
        list(pool.map(lambda n: separate_run(url, n), range(count)))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    count = args.cases
    timings: dict[str, list[float]] = {"cases": [], "sequential": [], "concurrent": []}
    with private_stack(concurrency=2, GREENBAR_POOL_SIZE="2") as stack:
        one_run_of_cases(stack.url, 2), separate_runs(stack.url, 2, 1)  # warm every path
        for _ in range(args.rounds):
            timings["cases"].append(one_run_of_cases(stack.url, count))
            timings["sequential"].append(separate_runs(stack.url, count, 1))
            timings["concurrent"].append(separate_runs(stack.url, count, 2))
    ms = {name: statistics.median(samples) * 1000 for name, samples in timings.items()}
    print(
        json.dumps(
            {
                "benchmark": "cases",
                "image": IMAGE,
                "cases": count,
                "rounds": args.rounds,
                "one_run_of_cases_ms": round(ms["cases"], 1),
                "separate_runs_one_at_a_time_ms": round(ms["sequential"], 1),
                "separate_runs_two_at_a_time_ms": round(ms["concurrent"], 1),
                "ratio_to_one_at_a_time": round(ms["cases"] / ms["sequential"], 3),
                "ratio_to_two_at_a_time": round(ms["cases"] / ms["concurrent"], 3),
                "per_case_ms": round(ms["cases"] / count, 1),
                "per_separate_run_ms": round(ms["sequential"] / count, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
