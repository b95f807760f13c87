"""What a setting may be: a range for every number, the sandbox's hardening that cannot be
switched off, and the settings that must agree with each other.

Each rule answers a list of problems, one line each, naming the variable and the rule; an
empty list is a usable configuration. `Settings.check` raises them all at once.
"""

import json
import re
from dataclasses import dataclass
from typing import Any

# A name as dockerd's configuration registers it (runc, runsc, io.containerd.runc.v2), never a
# path or flags: the engine, not greenbar, says which binary and arguments it stands for.
RUNTIME_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
CAPABILITY = re.compile(r"(CAP_)?[A-Z_]+")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
HIGHEST_UID = 2**31 - 1
# Celery's hard time limit is the run limit plus this (tasks/celery_app.py).
HARD_LIMIT_MARGIN_SECONDS = 60


@dataclass(frozen=True)
class Bound:
    """Both ends allowed, in the field's own unit; `why` explains a lowest that is not 0 or 1."""

    lowest: float
    highest: float
    why: str = ""


DAY, YEAR = 86400, 365 * 86400
BOUNDS = {
    "port": Bound(1, 65535),
    "body_read_seconds": Bound(0.1, 300),
    "web_workers": Bound(1, 256),
    "web_connections": Bound(16, 1_000_000),
    "max_seconds_default": Bound(1, 3600),
    "max_seconds_limit": Bound(1, 3600),
    # The supervisor refuses a frame over 64 MiB (supervisor/supervisor.h).
    "output_limit_kib": Bound(1, 16384),
    "created_files_max": Bound(0, 1024),
    "cases_max": Bound(1, 256),  # the supervisor runs at most 256 (CASES_MAX)
    "files_max_count": Bound(1, 65536),
    "files_max_kib": Bound(1, 262144),
    "files_max_depth": Bound(1, 256),
    "request_max_kib": Bound(2, 524288),
    # Below the 60 s Redis read timeout (app/externals/store.py).
    "wait_max_seconds": Bound(0, 50),
    "result_ttl_seconds": Bound(60, YEAR, "a record must outlive its run"),
    "rag_lambda_seconds": Bound(0.05, 60),
    "rag_cache_ttl_seconds": Bound(60, YEAR),
    "rag_missing_ttl_seconds": Bound(1, DAY),
    "queue_max_waiting": Bound(0, 1_000_000),
    "retry_after_seconds": Bound(1, 3600),
    "pull_interval_minutes": Bound(0.01, 7 * 24 * 60),
    "prune_interval_minutes": Bound(0.01, 7 * 24 * 60),
    "kata_unused_hours": Bound(0.01, 365 * 24),
    "kata_quota_mib": Bound(1, 16384),
    # 0-65535 are the host's own users by Debian's policy: a run's uid must be none of them, as
    # the kernel counts per-uid limits across the whole host, containers or not.
    "uid_base": Bound(65536, HIGHEST_UID, "above the host's own users"),
    # A uid comes round again after this many containers (a kata volume keeps its uid for good):
    # a small range hands a live container's uid to another.
    "uid_count": Bound(4096, HIGHEST_UID, "so a uid comes round only long after its last use"),
    "supervisor_uid": Bound(1, HIGHEST_UID, "never root"),
    # The supervisor, docker-init, sh and the run's first process, with room for a pipeline.
    "pids_limit": Bound(8, 32768, "for the supervisor, init, sh and a few of the run's"),
    "memory_mib": Bound(64, 65536, "for the supervisor, a shell and what the run writes"),
    "cpus": Bound(0.01, 256),  # Docker's smallest share is 0.01
    "ulimit_core": Bound(0, 2**30),
    "ulimit_fsize_mib": Bound(1, 65536),
    "ulimit_nofile": Bound(64, 1048576, "for the supervisor's pipes and the run's files"),
    "ulimit_stack_mib": Bound(1, 1024),
    "sandbox_tmpfs_mib": Bound(1, 16384),
    "sandbox_inodes": Bound(64, 10_000_000),
    "tmp_tmpfs_mib": Bound(1, 16384),
    "tmp_inodes": Bound(64, 10_000_000),
    "home_tmpfs_mib": Bound(1, 16384),
    "home_inodes": Bound(64, 10_000_000),
    "read_cap_mib": Bound(1, 1024),
    "pool_size": Bound(0, 64),
    "build_seconds": Bound(10, DAY),
    "build_memory_mib": Bound(64, 65536),
    "build_context_mib": Bound(1, 4096),
    "build_image_mib": Bound(1, 65536),
    "pool_idle_seconds": Bound(1, DAY),
    "worker_concurrency": Bound(1, 256),
    "visibility_timeout_seconds": Bound(1, 7 * DAY),
}
UNITS = {
    "_kib": "KiB",
    "_mib": "MiB",
    "_seconds": "seconds",
    "_minutes": "minutes",
    "_hours": "hours",
}


def variable(name: str) -> str:
    return "GREENBAR_" + name.upper()


def shown(value: Any) -> str:
    """`value` as it would be written in the environment."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def out_of_bounds(settings: Any) -> list[str]:
    """A line for each number that is not one, or is outside its field's bound."""
    problems = []
    for name, bound in BOUNDS.items():
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{variable(name)}={shown(value)} is not a number")
        elif not bound.lowest <= value <= bound.highest:
            unit = next((u for end, u in UNITS.items() if name.endswith(end)), "")
            why = f" ({bound.why})" if bound.why else ""
            problems.append(
                f"{variable(name)}={shown(value)} is out of range: it must be from {bound.lowest}"
                f" to {bound.highest}{' ' + unit if unit else ''}{why}"
            )
    return problems


def weakened(s: Any) -> list[str]:
    """A line for each of the sandbox's defences switched off. None can be: greenbar runs
    strangers' programs and images, and each of these stops one of them reaching the node."""
    problems = []
    if s.network != "none":
        problems.append(
            f"GREENBAR_NETWORK={s.network} is refused: it must be 'none'. A sandbox never"
            " gets a network: with one a run could reach Redis, the Docker API, the cloud's"
            " metadata service and the internet"
        )
    if "ALL" not in (c.upper() for c in s.cap_drop):
        problems.append(
            f"GREENBAR_CAP_DROP={shown(s.cap_drop)} is refused: it must include ALL."
            " A run gets no capability; the supervisor is given back only the four it needs"
        )
    problems += [
        f"GREENBAR_CAP_DROP: {c!r} is not a capability name"
        for c in s.cap_drop
        if not CAPABILITY.fullmatch(c.upper())
    ]
    if s.read_only is not True:
        problems.append(
            f"GREENBAR_READ_ONLY={shown(s.read_only)} is refused: it must be true. A run writes"
            " only to its size-limited tmpfs; a writable root writes to the node's disk"
            " without a limit"
        )
    if s.no_new_privileges is not True:
        problems.append(
            f"GREENBAR_NO_NEW_PRIVILEGES={shown(s.no_new_privileges)} is refused: it must be true."
            " Without it a setuid program in an image (which anyone who can push a tag"
            " wrote) gives a run back the privileges the supervisor dropped"
        )
    return problems + _seccomp(s.seccomp_profile)


def _seccomp(profile: str) -> list[str]:
    if not profile:
        return []
    if profile.strip().lower() == "unconfined":
        return [
            f"GREENBAR_SECCOMP_PROFILE={profile} is refused: it must be empty (the engine's"
            " default) or a JSON profile. The profile is what refuses a run user namespaces and"
            " keyrings"
        ]
    try:
        parsed = json.loads(profile)
    except ValueError as error:
        return [f"GREENBAR_SECCOMP_PROFILE is not a JSON seccomp profile: {error}"]
    return [] if isinstance(parsed, dict) else ["GREENBAR_SECCOMP_PROFILE is not a JSON object"]


def contradictions(s: Any) -> list[str]:
    """A line for each setting that contradicts another, or names nothing usable."""
    problems = []
    if not 1 <= s.max_seconds_default <= s.max_seconds_limit:
        problems.append("GREENBAR_MAX_SECONDS_DEFAULT must be between 1 and the limit")
    if s.request_max_kib < 3 * s.files_max_kib:  # a largest file, a largest stdin, and JSON
        problems.append("GREENBAR_REQUEST_MAX_KIB must be at least three times FILES_MAX_KIB")
    if s.last_uid > HIGHEST_UID:
        problems.append("GREENBAR_UID_BASE and _COUNT must give uids from 1 to 2**31-1")
    if s.uid_base <= s.supervisor_uid <= s.last_uid:
        problems.append("GREENBAR_SUPERVISOR_UID must be a non-zero uid outside the run range")
    if s.visibility_timeout_seconds <= s.max_seconds_limit + HARD_LIMIT_MARGIN_SECONDS:
        problems.append(
            "GREENBAR_VISIBILITY_TIMEOUT_SECONDS must exceed GREENBAR_MAX_SECONDS_LIMIT"
            f" + {HARD_LIMIT_MARGIN_SECONDS} (Celery's hard time limit): else a run still"
            " going is given to a second worker"
        )
    if s.memory_mib <= s.sandbox_tmpfs_mib + s.tmp_tmpfs_mib + s.home_tmpfs_mib:
        problems.append(
            "GREENBAR_MEMORY_MIB must exceed GREENBAR_SANDBOX_TMPFS_MIB + GREENBAR_TMP_TMPFS_MIB"
            " + GREENBAR_HOME_TMPFS_MIB: a tmpfs's pages count against the container's memory,"
            " and a full /sandbox must be a clean ENOSPC, not an OOM kill"
        )
    if s.visibility_timeout_seconds <= s.build_seconds + HARD_LIMIT_MARGIN_SECONDS:
        problems.append(
            "GREENBAR_VISIBILITY_TIMEOUT_SECONDS must exceed GREENBAR_BUILD_SECONDS"
            f" + {HARD_LIMIT_MARGIN_SECONDS}: else a build still going is given to a second"
            " builder"
        )
    if s.read_cap_mib * 1024 < 2 * s.output_limit_kib * (1 + s.cases_max):
        problems.append(
            "GREENBAR_READ_CAP_MIB must hold stdout and stderr at GREENBAR_OUTPUT_LIMIT_KIB"
            " for build.sh and each of GREENBAR_CASES_MAX cases"
        )
    return problems + _names(s) + _open(s) + _build_sources(s)


LOOPBACK = re.compile(r"127\.\d+\.\d+\.\d+|localhost|::1|\[::1\]")


def is_loopback(address: str) -> bool:
    return bool(LOOPBACK.fullmatch(address.strip()))


def reached_on(s: Any) -> tuple[str, str]:
    """The address clients reach the API on, and the variable that says so."""
    if s.publish_address:
        return s.publish_address, "GREENBAR_PUBLISH_ADDRESS"
    return s.bind, "GREENBAR_BIND"


def open_to_all(s: Any) -> bool:
    """Whether the API is reachable beyond loopback with no token asked for."""
    return not (is_loopback(reached_on(s)[0]) or s.client_tokens or s.admin_tokens)


def _open(s: Any) -> list[str]:
    """Listening beyond loopback with no token is refused unless asked for by name."""
    if not open_to_all(s) or s.insecure_open:
        return []
    address, name = reached_on(s)
    return [
        f"{name}={address} is beyond loopback with no GREENBAR_CLIENT_TOKENS or"
        " GREENBAR_ADMIN_TOKENS: anyone who reaches it could run programs and use the admin"
        " routes. Set tokens, or GREENBAR_INSECURE_OPEN=1 to open it to everyone on purpose"
    ]


BUILD_SOURCE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}=\S+")


def _build_sources(s: Any) -> list[str]:
    return [
        f"GREENBAR_BUILD_SOURCES: {entry!r} is not `track-slug=path-or-url`"
        for entry in s.build_sources
        if not BUILD_SOURCE.fullmatch(entry)
    ]


def _names(s: Any) -> list[str]:
    problems = []
    if not RUNTIME_NAME.fullmatch(s.runtime):
        problems.append(f"GREENBAR_RUNTIME={s.runtime!r} is not a runtime name")
    if not s.redis_url.startswith(REDIS_SCHEMES):
        problems.append(
            f"GREENBAR_REDIS_URL must start with {', '.join(REDIS_SCHEMES)}"
            " (its password, if any, is not repeated here)"
        )
    problems += [
        f"{variable(name)} must not be empty"
        for name in ("node", "deployment", "evaluator_image")
        if not getattr(s, name).strip()
    ]
    return problems
