"""Runs probe.c in greenbar's future run container under each runtime and prints one table.

The probe is built static, put into a named volume through a created, never started container
(put_archive cannot reach a read-only root or a tmpfs, but it does reach a volume), and run as
that container's command from the volume mounted read-only: the way the supervisor will run.
Everything created is labelled greenbar.kind=probe and removed, even on failure.

Usage: .venv/bin/python bench/probe/run.py [--runtimes runc,runsc] [--details]
    A runtime name is one the engine lists (docker info). Each runs with init on and off, with
    greenbar's pids_limit of 128; a gVisor runtime (runsc*) runs a third time without init and
    with the workaround the first two call for (see README.md here): a host pids_limit large
    enough for gVisor's own threads, and RLIMIT_NPROC set by the supervisor on the sandbox uid.
    Each column runs two containers: "main" (every step and attack) and "oom" (an OOM kill).
"""

import argparse
import dataclasses
import io
import subprocess
import sys
import tarfile
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

import docker

HERE = Path(__file__).resolve().parent
IMAGE = "greenbar/busybox-sh"
LABELS = {"greenbar.kind": "probe"}
E_UID, S_UID = 41900, 41966  # each gid is its uid + 10000, as probe.c has it
MIB = 1024 * 1024
CONTAINER_SECONDS = 45  # a runtime that hangs at start (gVisor's KVM, nested) is killed then
PIDS_LIMIT = 128  # greenbar's default


@dataclasses.dataclass(frozen=True)
class Column:
    runtime: str
    init: bool
    pids_limit: int = PIDS_LIMIT
    nproc: int = 0  # RLIMIT_NPROC the probe sets on S; 0: none

    @property
    def title(self) -> str:
        extra = f" pids {self.pids_limit} nproc {self.nproc}" if self.nproc else ""
        return f"{self.runtime} {'init' if self.init else 'no-init'}{extra}"


def columns(runtimes: list[str]) -> list[Column]:
    made = []
    for runtime in runtimes:
        made += [Column(runtime, True), Column(runtime, False)]
        if runtime.startswith("runsc"):
            # Measured: ~50 host tasks for an idle sandbox, 1663 at the peak of a fork bomb held
            # to 128 processes by RLIMIT_NPROC (ptrace platform); 32 per process leaves room.
            made.append(Column(runtime, False, pids_limit=32 * PIDS_LIMIT, nproc=PIDS_LIMIT))
    return made


def build(out: Path) -> bytes:
    """Compiles probe.c statically; returns a tar holding it as `probe`, mode 0755."""
    binary = out / "probe"
    subprocess.run(["gcc", "-static", "-O2", "-Wall", "-o", binary, HERE / "probe.c"], check=True)
    data = binary.read_bytes()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("probe")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def fill_volume(api: docker.APIClient, volume: str, archive: bytes) -> None:
    host = api.create_host_config(binds={volume: {"bind": "/probe", "mode": "rw"}})
    holder = api.create_container(IMAGE, command=["true"], labels=LABELS, host_config=host)
    try:
        api.put_archive(holder["Id"], "/probe", archive)
    finally:
        api.remove_container(holder["Id"], force=True)


def _tmpfs(size: str, inodes: int) -> str:
    owner = f"uid={S_UID},gid={S_UID + 10000},mode=0700"
    return f"exec,nosuid,nodev,size={size},nr_inodes={inodes},{owner}"


def host_config(api: docker.APIClient, volume: str, column: Column) -> Any:
    """greenbar's planned run container: root with three capabilities, everything else shut."""
    return api.create_host_config(
        runtime=column.runtime,
        network_mode="none",
        read_only=True,
        cap_drop=["ALL"],
        cap_add=["SETUID", "SETGID", "KILL"],
        security_opt=["no-new-privileges"],
        init=column.init,
        pids_limit=column.pids_limit,
        mem_limit=256 * MIB,
        memswap_limit=256 * MIB,
        tmpfs={"/sandbox": _tmpfs("64m", 16384), "/inodes": _tmpfs("1m", 64)},
        binds={volume: {"bind": "/probe", "mode": "ro"}},
        log_config={"type": "none"},
    )


def run_probe(api: docker.APIClient, volume: str, column: Column, group: str) -> str:
    """Runs one probe group; returns its output plus a host-side line."""
    container = api.create_container(
        IMAGE,
        command=["/probe/probe", group, str(E_UID), str(S_UID), str(column.nproc)],
        user="0:0",
        network_disabled=True,
        labels=LABELS,
        host_config=host_config(api, volume, column),
    )["Id"]
    guard = threading.Timer(CONTAINER_SECONDS, lambda: api.kill(container))
    try:
        stream = api.attach(container, stdout=True, stderr=True, stream=True, logs=False)
        guard.start()
        api.start(container)
        output = b"".join(stream).decode(errors="replace")
        state = api.inspect_container(container)["State"]
        ended = f"{state['ExitCode']} (OOMKilled {state['OOMKilled']})"
        return output + f"info host.{group}_exit {ended}\n"
    except docker.errors.DockerException as error:
        return f"FAIL host.{group}_start {error}\n"
    finally:
        guard.cancel()
        api.remove_container(container, force=True)


def parse(output: str) -> dict[str, tuple[str, str]]:
    checks = {}
    for line in output.splitlines():
        status, _, rest = line.partition(" ")
        name, _, detail = rest.partition(" ")
        if status in ("ok", "FAIL", "info") and name:
            checks[name] = (status, detail)
        elif line.strip():
            checks.setdefault("stray", ("info", ""))
            checks["stray"] = ("info", (checks["stray"][1] + " | " + line)[-300:])
    return checks


def table(results: dict[str, dict[str, tuple[str, str]]]) -> str:
    """Markdown: ok or FAIL per check, "-" where the container died before the check ran;
    the host's view of each container's end last."""
    names: list[str] = []
    for checks in results.values():
        names += [n for n in checks if n not in names and checks[n][0] != "info"]
    names += ["host.main_exit", "host.oom_exit"]
    columns = list(results)
    rows = ["| check | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for name in names:
        cells = [results[c].get(name, ("-", ""))[0] for c in columns]
        if name.startswith("host."):
            cells = [results[c].get(name, ("", "-"))[1] for c in columns]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtimes", default="runc,runsc")
    parser.add_argument("--details", action="store_true", help="every line of every run")
    args = parser.parse_args()
    client = docker.from_env(timeout=CONTAINER_SECONDS + 30)
    api = client.api
    volume = client.volumes.create(f"greenbar-probe-{uuid.uuid4().hex[:8]}", labels=LABELS)
    results: dict[str, dict[str, tuple[str, str]]] = {}
    try:
        with tempfile.TemporaryDirectory() as out:
            fill_volume(api, volume.name, build(Path(out)))
        for column in columns(args.runtimes.split(",")):
            output = "".join(run_probe(api, volume.name, column, g) for g in ("main", "oom"))
            results[column.title] = parse(output)
            if args.details:
                print(f"## {column.title}\n{output}", flush=True)
    finally:
        volume.remove(force=True)
    print(table(results))
    left = api.containers(all=True, filters={"label": "greenbar.kind=probe"})
    sys.exit(1 if left else 0)


if __name__ == "__main__":
    main()
