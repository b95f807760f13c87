"""End-to-end latency of a trivial run (POST /runs?wait) against a raw hardened `docker run`.

Both sides run the same program in the same image with the same container settings, in the
same process run, interleaved, so machine noise hits both alike.

Usage: .venv/bin/python bench/run_latency.py [--runs N] [--image IMAGE]
Prints one JSON object: p50/p90 of each side in milliseconds and greenbar/raw ratios.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.config import Settings
from app.sandbox.spec import GVISOR_MEMORY_MIB, GVISOR_PIDS_FACTOR
from bench.stack import private_stack

PROGRAM = "echo hello"


def raw_command(settings: Settings, image: str, program: str = PROGRAM) -> list[str]:
    """The `docker run` of `program` with greenbar's own container settings, runtime included."""
    mib = 1024 * 1024
    uid = str(settings.uid_base)  # a non-root uid, as a run's
    tmpfs = "exec,nosuid,nodev,size={}m,nr_inodes={},uid=" + uid + ",gid=" + uid
    # As app/sandbox/spec.py: under gVisor more pids and memory for gVisor itself, no docker-init.
    gvisor = settings.runtime == "runsc"
    pids = settings.pids_limit * (GVISOR_PIDS_FACTOR if gvisor else 1)
    memory = f"{settings.memory_mib + (GVISOR_MEMORY_MIB if gvisor else 0)}m"
    return [
        *("docker", "run", "--rm", "-i", "--runtime", settings.runtime),
        *("--network", settings.network, "--read-only"),
        *("--cap-drop", "ALL", "--security-opt", "no-new-privileges"),
        *(() if gvisor else ("--init",)),
        *("--user", f"{uid}:{uid}", "--pids-limit", str(pids)),
        *("--memory", memory, "--memory-swap", memory),
        *("--cpus", str(settings.cpus), "--log-driver", "none"),
        *("--ulimit", "core=0", "--ulimit", f"fsize={settings.ulimit_fsize_mib * mib}"),
        *("--ulimit", f"nofile={settings.ulimit_nofile}"),
        *("--ulimit", f"stack={settings.ulimit_stack_mib * mib}"),
        *(
            "--tmpfs",
            "/sandbox:" + tmpfs.format(settings.sandbox_tmpfs_mib, settings.sandbox_inodes),
        ),
        *("--tmpfs", "/tmp:" + tmpfs.format(settings.tmp_tmpfs_mib, settings.tmp_inodes)),
        *("--label", "greenbar.bench=raw", "-w", "/sandbox", image, "sh", "-c", program),
    ]


def time_raw(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=True, stdin=subprocess.DEVNULL)
    assert done.stdout == b"hello\n", done
    return time.perf_counter() - started


def time_greenbar(url: str, image: str) -> float:
    body = json.dumps({"image": image, "files": {"cyber-dojo.sh": PROGRAM}}).encode()
    request = urllib.request.Request(
        f"{url}/runs?wait=25", data=body, headers={"Content-Type": "application/json"}
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        view = json.load(response)
    elapsed = time.perf_counter() - started
    assert view["result"]["stdout"]["content"] == "hello\n", view
    return elapsed


def summary(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    deciles = statistics.quantiles(ms, n=10)
    return {"p50_ms": round(statistics.median(ms), 1), "p90_ms": round(deciles[8], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--image", default="greenbar/busybox-sh")
    args = parser.parse_args()
    settings = Settings.from_env({})
    command = raw_command(settings, args.image)
    raw, greenbar = [], []
    with private_stack() as stack:
        time_raw(command), time_greenbar(stack.url, args.image)  # warm both paths once
        for _ in range(args.runs):
            raw.append(time_raw(command))
            greenbar.append(time_greenbar(stack.url, args.image))
    mine, base = summary(greenbar), summary(raw)
    print(
        json.dumps(
            {
                "benchmark": "run_latency",
                "image": args.image,
                "runs": args.runs,
                "greenbar_post_runs_wait": mine,
                "raw_docker_run": base,
                "ratio_p50": round(mine["p50_ms"] / base["p50_ms"], 3),
                "ratio_p90": round(mine["p90_ms"] / base["p90_ms"], 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
