"""The hardened container a run gets: every setting derived from `Settings`, in one place."""

from typing import Any

from app.config import Settings

MIB = 1024 * 1024
LABEL_KIND = "greenbar.kind"
LABEL_RUN = "greenbar.run"
LABEL_NODE = "greenbar.node"
LABEL_DEPLOYMENT = "greenbar.deployment"
LABEL_WORKER = "greenbar.worker"
# The supervisor starts as root with only these and keeps them as its own non-root uid: to
# act as the run's uid on /sandbox and start the run as it (SETUID, SETGID), to kill the
# run's processes, which belong to another uid (KILL), and to empty the run's bounding set
# (SETPCAP). The run itself gets none, not even in its bounding set.
SUPERVISOR_CAPABILITIES = ("SETUID", "SETGID", "KILL", "SETPCAP")
SUPERVISOR_MOUNT = "/greenbar"
# Under gVisor (runtime runsc) the sandbox's own threads count against the pids cgroup (about
# 50 idle, 1600 while a fork bomb is held to 128 processes) and reaching it kills the whole
# sandbox: the cgroup gets this many times the limit, and the run is held to the limit itself
# by RLIMIT_NPROC, which the supervisor sets on the run's uid (the container's own). gVisor
# also charges itself to the memory limit (about 50 MiB), and honours the supervisor's
# subreaper only when it is pid 1 (no docker-init).
GVISOR_PIDS_FACTOR = 32
GVISOR_MEMORY_MIB = 64
SUPERVISOR_COMMAND = f"{SUPERVISOR_MOUNT}/supervisor"
SANDBOX = "/sandbox"
# cyber-dojo's: start points source helper files from ~ and keep caches there. The values a
# run alone knows (CYBER_DOJO_ID, CYBER_DOJO_IMAGE_NAME) come in its request (feed.py), as a
# warm container is made before its run is known.
HOME = "/home/sandbox"
ENVIRONMENT = {"HOME": HOME, "CYBER_DOJO_SANDBOX": SANDBOX, "CYBER_DOJO_RUNNER": "greenbar"}


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
    uid: int,
    supervisor: str,
    volume: str | None = None,
) -> dict[str, Any]:
    """Arguments for `APIClient.create_container` for one run's container (fresh or warm).

    Args:
        settings: the operator's limits and container settings.
        image_id: the content-addressed id to run, so the digest reported is the one that ran.
        name: the container's unique name.
        labels: its `greenbar.*` labels (`run_labels` or `pool_labels`).
        uid: the run's uid and gid, its own (see app/sandbox/uids.py).
        supervisor: the volume holding the supervisor (see app/sandbox/supervisor.py).
        volume: a kata volume to mount at /sandbox instead of a tmpfs.
    """
    ids = [str(uid), str(uid), str(settings.supervisor_uid)]
    return {
        "image": image_id,
        # An image's own ENTRYPOINT (an exercism runner's is its run.sh) would take the
        # supervisor as its arguments: [""] resets it, so the supervisor is the command.
        "entrypoint": [""],
        "command": [SUPERVISOR_COMMAND, *ids],
        "name": name,
        "user": "0:0",  # the supervisor's first step makes it a non-root uid of its own
        "working_dir": SANDBOX,
        "environment": dict(ENVIRONMENT),
        # docker-py sets StdinOnce with stdin_open: our half-close becomes EOF on stdin.
        "stdin_open": True,
        "network_disabled": settings.network == "none",
        "labels": labels,
        "host_config": host_config(settings, uid, supervisor, volume),
    }


def host_config(
    settings: Settings, uid: int, supervisor: str, volume: str | None = None
) -> dict[str, Any]:
    """The HostConfig keywords: isolation and limits."""
    owner = f"uid={uid},gid={uid},mode=0755"
    tmpfs = {
        "/tmp": _tmpfs(settings.tmp_tmpfs_mib, settings.tmp_inodes, "mode=1777"),
        HOME: _tmpfs(settings.home_tmpfs_mib, settings.home_inodes, owner),
    }
    if volume is None:
        tmpfs[SANDBOX] = _tmpfs(settings.sandbox_tmpfs_mib, settings.sandbox_inodes, owner)
    # nocopy: the engine would otherwise copy the image's directory at the mount point into
    # an empty volume, owner included, and a kata's files would belong to the image's user.
    binds = {supervisor: {"bind": SUPERVISOR_MOUNT, "mode": "ro,nocopy"}}
    if volume is not None:  # a kata volume, never a host path: no host directory gets in
        binds[volume] = {"bind": SANDBOX, "mode": "rw,nocopy"}
    gvisor = settings.runtime == "runsc"
    memory = (settings.memory_mib + (GVISOR_MEMORY_MIB if gvisor else 0)) * MIB
    security = ["no-new-privileges"] if settings.no_new_privileges else []
    if settings.seccomp_profile:
        security.append(f"seccomp={settings.seccomp_profile}")
    return {
        "runtime": settings.runtime,
        "network_mode": settings.network,
        "read_only": settings.read_only,
        "cap_drop": list(settings.cap_drop),
        "cap_add": [*SUPERVISOR_CAPABILITIES, *settings.extra_capabilities],
        "security_opt": security,
        "init": settings.init and not gvisor,
        "pids_limit": settings.pids_limit * (GVISOR_PIDS_FACTOR if gvisor else 1),
        "mem_limit": memory,
        "memswap_limit": memory,  # equal: no swap on top of the memory limit
        "nano_cpus": int(settings.cpus * 1e9),
        "ulimits": _ulimits(settings),
        "tmpfs": tmpfs,
        "binds": binds,
        "log_config": {"type": "none"},  # json-file would copy every byte printed to host disk
    }


def _ulimits(settings: Settings) -> list[dict[str, Any]]:
    # No nproc: it counts per host uid across ALL containers, so one run could stop
    # another's from starting. pids_limit bounds processes per container instead.
    limits = {
        "core": settings.ulimit_core,
        "fsize": settings.ulimit_fsize_mib * MIB,
        "nofile": settings.ulimit_nofile,
        "stack": settings.ulimit_stack_mib * MIB,
    }
    return [{"name": n, "soft": v, "hard": v} for n, v in limits.items()]


def _tmpfs(size_mib: int, inodes: int, owner: str) -> str:
    # size= alone does not bound inodes: millions of empty files would end in an OOM kill.
    return f"exec,nosuid,nodev,size={size_mib}m,nr_inodes={inodes},{owner}"
