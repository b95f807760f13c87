"""The hardened container a run gets: every setting derived from `Settings`, in one place."""

from pathlib import Path
from typing import Any

import docker.types

from app.config import Settings

ENTRY_SCRIPT = Path(__file__).with_name("entry.sh").read_text()
MIB = 1024 * 1024
LABEL_KIND = "greenbar.kind"
LABEL_RUN = "greenbar.run"
LABEL_NODE = "greenbar.node"
LABEL_DEPLOYMENT = "greenbar.deployment"
LABEL_WORKER = "greenbar.worker"
CAPTURE_MIB = 4  # 2 x 50 KiB of output, the list of files before the run, a few small files
CAPTURE_INODES = 64


RUN_PREFIX = "greenbar-run-"


def container_name(run_id: str) -> str:
    """The unique container name of a run: a second container for the same run cannot exist.
    A warm container is renamed so when a run takes it."""
    return RUN_PREFIX + run_id


def _labels(settings: Settings, kind: str, **more: str) -> dict[str, str]:
    common = {LABEL_KIND: kind, LABEL_NODE: settings.node, LABEL_DEPLOYMENT: settings.deployment}
    return {**common, **more}


def run_labels(settings: Settings, run_id: str) -> dict[str, str]:
    return _labels(settings, "run", **{LABEL_RUN: run_id})


def pool_labels(settings: Settings, worker: str) -> dict[str, str]:
    return _labels(settings, "pool", **{LABEL_WORKER: worker})


def spec(
    settings: Settings,
    image_id: str,
    name: str,
    labels: dict[str, str],
    volume: str | None = None,
) -> dict[str, Any]:
    """Arguments for `APIClient.create_container` for one run's container (fresh or warm).

    Args:
        settings: the operator's limits and container settings.
        image_id: the content-addressed id to run, so the digest reported is the one that ran.
        name: the container's unique name.
        labels: its `greenbar.*` labels (`run_labels` or `pool_labels`).
        volume: a kata volume to mount at /sandbox instead of a tmpfs.
    """
    out_cap = settings.output_limit_kib * 1024 + 1  # one more byte says "truncated"
    return {
        "image": image_id,
        "command": ["sh", "-c", ENTRY_SCRIPT, "greenbar-entry", str(out_cap)],
        "name": name,
        "user": settings.user,
        "working_dir": "/sandbox",
        # docker-py sets StdinOnce with stdin_open: our half-close becomes EOF on stdin.
        "stdin_open": True,
        "network_disabled": settings.network == "none",
        "labels": labels,
        "host_config": host_config(settings, volume),
    }


def host_config(settings: Settings, volume: str | None = None) -> dict[str, Any]:
    """The HostConfig keywords: isolation and limits."""
    sandbox = _tmpfs(settings.sandbox_tmpfs_mib, settings.sandbox_inodes, settings)
    tmpfs = {
        "/tmp": _tmpfs(settings.tmp_tmpfs_mib, settings.tmp_inodes, settings),
        # The entry script's capture, apart from /tmp so a run filling /tmp cannot starve it.
        "/greenbar": _tmpfs(CAPTURE_MIB, CAPTURE_INODES, settings).replace("exec,", "noexec,"),
    }
    if volume is None:
        tmpfs["/sandbox"] = sandbox
    memory = settings.memory_mib * MIB
    security = ["no-new-privileges"] if settings.no_new_privileges else []
    if settings.seccomp_profile:
        security.append(f"seccomp={settings.seccomp_profile}")
    return {
        "runtime": settings.runtime,
        "network_mode": settings.network,
        "read_only": settings.read_only,
        "cap_drop": list(settings.cap_drop),
        "security_opt": security,
        "init": settings.init,
        "pids_limit": settings.pids_limit,
        "mem_limit": memory,
        "memswap_limit": memory,  # equal: no swap on top of the memory limit
        "nano_cpus": int(settings.cpus * 1e9),
        "ulimits": _ulimits(settings),
        "tmpfs": tmpfs,
        # A kata volume, never a host path: no host directory reaches a sandbox.
        "binds": {volume: {"bind": "/sandbox", "mode": "rw"}} if volume else None,
        "log_config": {"type": "none"},  # json-file would copy every byte printed to host disk
    }


def _ulimits(settings: Settings) -> list[docker.types.Ulimit]:
    # No nproc: it counts per host uid across ALL containers, so one run could stop
    # another's from starting. pids_limit bounds processes per container instead.
    limits = {
        "core": settings.ulimit_core,
        "fsize": settings.ulimit_fsize_mib * MIB,
        "nofile": settings.ulimit_nofile,
        "stack": settings.ulimit_stack_mib * MIB,
    }
    return [docker.types.Ulimit(name=n, soft=v, hard=v) for n, v in limits.items()]


def _tmpfs(size_mib: int, inodes: int, settings: Settings) -> str:
    # size= alone does not bound inodes: millions of empty files would end in an OOM kill.
    uid, _, gid = settings.user.partition(":")
    return f"exec,nosuid,nodev,size={size_mib}m,nr_inodes={inodes},uid={uid},gid={gid or uid}"
