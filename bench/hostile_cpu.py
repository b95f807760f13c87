"""What a hostile run costs the worker: CPU time of the worker's whole process tree per run.

A run controls what its program does, never what the host parses (the supervisor writes the
result), so no run may cost the worker more than its max_seconds plus a small constant of CPU
(issue 11: at most max_seconds + 1 s). Each hostile run below is measured against a trivial
run in the same stack, in the same run of this script.

Usage: .venv/bin/python bench/hostile_cpu.py [--repeat 3]
Prints one JSON object; exits 1 if any run cost more than its bound.
"""

import argparse
import json
import sys
import time
import urllib.request
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stack import private_stack

MAX_SECONDS = 2
BOUND_SECONDS = MAX_SECONDS + 1

# A pax header of 100 000 digits: the quadratic regex of CVE-2024-6232 in Python 3.11.7's
# tarfile; and a sparse member claiming 3 GB. Each is written to every other process's
# stdout and stderr the run can open, and printed on its own stdout.
FORGER = """\
import io, os, tarfile
pax = tarfile.TarInfo("x")
pax.pax_headers = {"comment": "1" * 100000}
out = io.BytesIO()
with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
    tar.addfile(pax)
bomb = b"greenbar-result 0\\n" + out.getvalue() + b"GBOUT01\\nS\\0\\0\\0\\x010"
for pid in os.listdir("/proc"):
    for fd in ("1", "2"):
        try:
            with open(f"/proc/{pid}/fd/{fd}", "wb") as stream:
                stream.write(bomb)
        except OSError:
            pass
os.write(1, bomb * 20)
raise SystemExit(7)
"""

HOSTILE = {
    "trivial": ("greenbar/busybox-sh", {"cyber-dojo.sh": "echo hello"}),
    "forged archives": (
        "greenbar/python-pytest",
        {"cyber-dojo.sh": "python3 forge.py", "forge.py": FORGER},
    ),
    "a gibibyte of output": ("greenbar/busybox-sh", {"cyber-dojo.sh": "yes | head -c 1G"}),
    "16 000 files": (
        "greenbar/busybox-sh",
        {"cyber-dojo.sh": "seq 1 16000 | while read i; do echo $i > f$i; done"},
    ),
    "a 60 MiB file": (
        "greenbar/busybox-sh",
        {"cyber-dojo.sh": "dd if=/dev/zero bs=1M count=60 | tr '\\\\0' x > big.txt"},
    ),
    "a fork bomb": ("greenbar/busybox-sh", {"cyber-dojo.sh": "bomb() { bomb | bomb & }; bomb"}),
    "a loop past its limit": ("greenbar/busybox-sh", {"cyber-dojo.sh": "while :; do :; done"}),
}


def tree_cpu_seconds(pid: int) -> float:
    """User plus system CPU of `pid` and its descendants, finished children included."""
    total = 0.0
    root = psutil.Process(pid)
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def post(url: str, image: str, files: dict[str, str]) -> str:
    body = {"image": image, "files": files, "max_seconds": MAX_SECONDS}
    request = urllib.request.Request(
        f"{url}/runs?wait=25",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        view = json.load(response)
    return str(view.get("result", {}).get("outcome", view.get("state")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    report: dict[str, dict[str, object]] = {}
    with private_stack(concurrency=1, GREENBAR_POOL_SIZE="0") as stack:
        post(stack.url, "greenbar/busybox-sh", {"cyber-dojo.sh": "true"})  # warm up
        for name, (image, files) in HOSTILE.items():
            costs, outcomes = [], []
            for _ in range(args.repeat):
                before = tree_cpu_seconds(stack.worker_pid)
                outcomes.append(post(stack.url, image, files))
                time.sleep(0.2)  # the container's removal finishes inside the task
                costs.append(tree_cpu_seconds(stack.worker_pid) - before)
            report[name] = {
                "worker_cpu_s_max": round(max(costs), 3),
                "outcomes": sorted(set(outcomes)),
            }
    trivial = report["trivial"]["worker_cpu_s_max"]
    for figures in report.values():
        figures["ratio_to_trivial"] = round(figures["worker_cpu_s_max"] / trivial, 1)  # type: ignore[operator]
    worst = max(f["worker_cpu_s_max"] for f in report.values())  # type: ignore[type-var]
    print(json.dumps({"bound_s": BOUND_SECONDS, "worst_s": worst, "runs": report}, indent=2))
    sys.exit(0 if worst <= BOUND_SECONDS else 1)  # type: ignore[operator]


if __name__ == "__main__":
    main()
