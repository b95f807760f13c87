"""runc against gVisor's runsc: the same hardened container and program under each runtime.

Rows, each timed under every runtime, interleaved so machine noise hits all alike:
- busybox_echo: a raw hardened `docker run` of `echo hello` (greenbar/busybox-sh);
- pytest: a raw hardened `docker run` of greenbar/python-pytest's start files, sent in as a tar
  on stdin (a tmpfs is out of docker cp's reach) and run by their cyber-dojo.sh;
- greenbar_p1 (with --p1): a trivial run through greenbar's whole stack, POST /runs?wait, with a
  private stack per runtime (GREENBAR_RUNTIME), as bench/speed.py's P1.
A row is a function (Settings, ExitStack) -> timer: it prepares one runtime's timing, opening on
the ExitStack whatever it needs kept up (a stack), and the timer returns seconds.

Usage: .venv/bin/python bench/runtimes.py [--runs 15] [--runtimes runc,runsc] [--p1]
Prints one JSON object: p50/p90 in ms per row and runtime, and each runtime's ratio to the first.
GREENBAR_* variables apply to every row. Under runsc the container gets room for gVisor's own
threads and memory, and no docker-init, as app/sandbox/spec.py gives a run (bench/probe/README.md).
"""

import argparse
import dataclasses
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.config import Settings
from bench.run_latency import raw_command, time_greenbar, time_raw
from bench.stack import private_stack

ROOT = Path(__file__).resolve().parents[1]
BUSYBOX = "greenbar/busybox-sh"
PYTHON = "greenbar/python-pytest"
Timer = Callable[[], float]
Row = Callable[[Settings, ExitStack], Timer]


def busybox_echo(settings: Settings, _: ExitStack) -> Timer:
    command = raw_command(settings, BUSYBOX)
    return lambda: time_raw(command)


def pytest_start(settings: Settings, _: ExitStack) -> Timer:
    command = raw_command(settings, PYTHON, "tar -x -C /sandbox && sh cyber-dojo.sh")
    files = start_tar(ROOT / "images" / "python-pytest" / "start")

    def timer() -> float:
        started = time.perf_counter()
        done = subprocess.run(command, input=files, capture_output=True)
        elapsed = time.perf_counter() - started
        # The start files are red: one failing test, pytest's status 1.
        assert done.returncode in (0, 1) and b"hiker" in done.stdout, done
        return elapsed

    return timer


def greenbar_p1(settings: Settings, services: ExitStack) -> Timer:
    stack = services.enter_context(private_stack(GREENBAR_RUNTIME=settings.runtime))
    return lambda: time_greenbar(stack.url, BUSYBOX)


def start_tar(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(directory.iterdir()):
            tar.add(path, arcname=path.name)
    return buffer.getvalue()


def summary(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    return {
        "p50_ms": round(statistics.median(ms), 1),
        "p90_ms": round(statistics.quantiles(ms, n=10)[8], 1),
    }


def measure(rows: dict[str, Row], runtimes: list[str], runs: int) -> dict[str, dict]:
    """Times every row under every runtime `runs` times, after one untimed warm-up each."""
    base = Settings.from_env(os.environ)
    with ExitStack() as services:
        timers = {
            (row, runtime): prepare(dataclasses.replace(base, runtime=runtime), services)
            for row, prepare in rows.items()
            for runtime in runtimes
        }
        samples: dict[tuple[str, str], list[float]] = {key: [] for key in timers}
        for timer in timers.values():
            timer()
        for _ in range(runs):
            for key, timer in timers.items():
                samples[key].append(timer())
    report: dict[str, dict] = {}
    for row in rows:
        figures = {runtime: summary(samples[row, runtime]) for runtime in runtimes}
        first = figures[runtimes[0]]
        for runtime in runtimes[1:]:
            figures[f"{runtime}/{runtimes[0]}"] = {
                f"ratio_{p}": round(figures[runtime][f"{p}_ms"] / first[f"{p}_ms"], 2)
                for p in ("p50", "p90")
            }
        report[row] = figures
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--runtimes", default="runc,runsc", help="as the engine names them")
    parser.add_argument("--p1", action="store_true", help="add greenbar's P1 through its API")
    args = parser.parse_args()
    rows: dict[str, Row] = {"busybox_echo": busybox_echo, "pytest": pytest_start}
    if args.p1:
        rows["greenbar_p1"] = greenbar_p1
    runtimes = args.runtimes.split(",")
    report = measure(rows, runtimes, args.runs)
    print(json.dumps({"benchmark": "runtimes", "runs": args.runs, **report}, indent=2))


if __name__ == "__main__":
    main()
