"""Configuration from environment variables: one field, one `GREENBAR_<FIELD>` variable.

Every field below is documented in README.md; a test keeps the two in step. What each may be
is in app/config_rules.py: a Settings that breaks a rule cannot be made.
"""

import dataclasses
import difflib
import logging
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.config_profiles import for_image, profile_problems
from app.config_rules import contradictions, out_of_bounds, variable, weakened
from app.errors import ConfigError

log = logging.getLogger(__name__)

BUNDLED_IMAGES = (
    "greenbar/busybox-sh",
    "greenbar/python-pytest",
    "greenbar/python-exercism",
    "greenbar/cyber-dojo-python-pytest",
)
# GREENBAR_* variables read outside Settings, which a start must not warn of.
OTHER_VARIABLES = frozenset(
    {
        "GREENBAR_SHA",  # web/__init__.py: the commit GET /sha names (a build argument)
        "GREENBAR_FLOWER_PORT",  # Procfile, docker-compose.yml: Flower's port
        "GREENBAR_FLOWER_BASIC_AUTH",  # scripts/flower.sh: Flower's basic auth
        "GREENBAR_FLOWER_BIND",  # scripts/flower.sh: the address Flower listens on
        "GREENBAR_FLOWER_PUBLISH_ADDRESS",  # scripts/flower.sh, compose: where Flower is reached
        "GREENBAR_RUNSC_PLATFORM",  # scripts/lib.sh: gVisor's platform
        "GREENBAR_WORKER_NAME",  # tasks/node.py: a worker names itself to its pool children
        "GREENBAR_URL",  # cli/main.py: the API the command line speaks to
        "GREENBAR_TOKEN",  # cli/main.py: its bearer token
    }
)


@dataclass(frozen=True)
class Settings:
    """Everything an operator can set. Sizes in MiB or KiB as named, times in seconds."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    # Labels every container and volume; deployments sharing nodes leave each other's alone.
    deployment: str = "default"
    node: str = field(default_factory=socket.gethostname)
    port: int = 4587
    # The API's address (web/gunicorn_conf.py), and the one clients reach it on when that
    # differs (compose publishes a container's port on a host address; empty: bind). Beyond
    # loopback it needs tokens, or insecure_open: an open API is everyone's, admin routes too.
    bind: str = "127.0.0.1"
    publish_address: str = ""
    insecure_open: bool = False
    # The longest a client may take to send a request's body; then 408 (web/edge.py).
    body_read_seconds: float = 10
    # gunicorn's gevent processes, and the connections each serves at once (a long poll is one).
    web_workers: int = 2
    web_connections: int = 4096
    images: tuple[str, ...] = BUNDLED_IMAGES
    # Run limits.
    max_seconds_default: int = 10
    max_seconds_limit: int = 20
    output_limit_kib: int = 50
    created_files_max: int = 16
    cases_max: int = 32  # test cases in one run
    files_max_count: int = 256
    files_max_kib: int = 4096
    files_max_depth: int = 16
    request_max_kib: int = 12288
    wait_max_seconds: int = 25
    result_ttl_seconds: int = 86400
    # Traffic lights.
    rag_lambda_seconds: float = 1.0
    rag_cache_ttl_seconds: int = 604800
    rag_missing_ttl_seconds: int = 60
    # Where rag lambdas run (app/colour/evaluator): greenbar's own image, needed on every node; a
    # starting worker pulls it when pulls are enabled and its node lacks it.
    evaluator_image: str = "greenbar/evaluator:latest"
    # The API: bearer tokens (none: open), and the most runs a queue may hold waiting.
    client_tokens: tuple[str, ...] = ()
    admin_tokens: tuple[str, ...] = ()
    queue_max_waiting: int = 200
    retry_after_seconds: int = 5
    # The tracks this worker serves; empty: a generic worker, which serves any run.
    tracks: tuple[str, ...] = ()
    # Nodes, pulls, kata volumes and pruning.
    pulls_enabled: bool = True
    pull_interval_minutes: float = 15
    prune_interval_minutes: float = 60
    kata_unused_hours: float = 24
    kata_quota_mib: int = 64
    prune_images: bool = False
    # Builds (POST /builds): each track's git repository (`slug=path-or-url`), the registry
    # built images are pushed to (empty: builds are off), whether this worker builds, and a
    # build's bounds.
    build_sources: tuple[str, ...] = ()
    build_registry: str = ""
    builder: bool = False
    build_seconds: int = 180
    build_memory_mib: int = 2048
    build_context_mib: int = 64
    build_image_mib: int = 2048
    # Container settings.
    runtime: str = "runc"  # an OCI runtime the engine lists, e.g. runsc (gVisor)
    network: str = "none"
    read_only: bool = True
    cap_drop: tuple[str, ...] = ("ALL",)
    no_new_privileges: bool = True
    seccomp_profile: str = ""  # empty: the engine's default profile
    # Each run container gets the next uid (and gid) of this range: see app/sandbox/uids.py. The
    # supervisor in it runs as supervisor_uid, outside the range.
    uid_base: int = 100000
    uid_count: int = 1048576
    supervisor_uid: int = 41965
    supervisor_binary: str = ""  # empty: build/greenbar-supervisor beside the code
    init: bool = True
    pids_limit: int = 128
    memory_mib: int = 768
    cpus: float = 1.0
    ulimit_core: int = 0
    ulimit_fsize_mib: int = 64
    ulimit_nofile: int = 1024
    ulimit_stack_mib: int = 16
    sandbox_tmpfs_mib: int = 64
    sandbox_inodes: int = 16384
    tmp_tmpfs_mib: int = 16
    tmp_inodes: int = 4096
    # The run's HOME, /home/sandbox, as cyber-dojo has it: caches and tools' dot files land
    # here, not among the learner's files, and are never returned.
    home_tmpfs_mib: int = 16
    home_inodes: int = 2048
    # Capabilities run containers get beyond the supervisor's (the run holds none of them):
    # only SYS_PTRACE, which relaxes the default seccomp profile for sanitizers.
    extra_capabilities: tuple[str, ...] = ()
    # Per-image container limits, JSON: see app/config_profiles.py.
    image_profiles: str = ""
    # The most the host reads back from one container before it gives up on it.
    read_cap_mib: int = 96
    # Warm containers per image kept ready by each worker; drained when unused this long.
    pool_size: int = 4
    pool_idle_seconds: int = 300
    # Celery.
    worker_concurrency: int = 2
    visibility_timeout_seconds: int = 300

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: Any) -> "Settings":
        """Reads every `GREENBAR_<FIELD>` present in `env`; `overrides` win over both.

        Raises:
            ConfigError: a variable cannot be converted to its field's type, or breaks a rule.
        """
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            name = variable(f.name)
            if name in env:
                values[f.name] = _convert(name, env[name], f.type)
        values.update(overrides)
        return cls(**values)

    def __post_init__(self) -> None:
        # Here rather than in from_env: dataclasses.replace and a Settings made by hand are
        # held to the same rules.
        self.check()

    def check(self) -> None:
        """Raises ConfigError naming every variable that breaks a rule, and the rule: a
        number out of its range, a defence of the sandbox switched off, or settings that
        contradict each other (looked at once every number is in range)."""
        problems = out_of_bounds(self) + weakened(self)
        if not problems:
            problems = contradictions(self)
        if not problems:
            problems = profile_problems(self)
        if problems:
            raise ConfigError("\n".join(problems))

    def for_image(self, image: str) -> "Settings":
        """These settings with the first image profile matching `image` applied (itself when
        none does): the container settings of that image's runs."""
        profiled: Settings = for_image(self, image)
        return profiled

    @property
    def last_uid(self) -> int:
        return self.uid_base + self.uid_count - 1

    @property
    def longest_run_seconds(self) -> int:
        """The longest a run's container may live, with room for start and teardown."""
        return self.max_seconds_limit + 30


def unknown_variables(env: Mapping[str, str]) -> dict[str, str | None]:
    """Each `GREENBAR_*` name in `env` that greenbar does not read, with the closest name it
    does (None when none is close): a mistyped name is otherwise silently ignored."""
    known = {variable(f.name) for f in dataclasses.fields(Settings)} | OTHER_VARIABLES
    stems = {name.removeprefix("GREENBAR_"): name for name in known}
    unknown: dict[str, str | None] = {}
    for name in sorted(env):
        if name.startswith("GREENBAR_") and name not in known:
            close = difflib.get_close_matches(name.removeprefix("GREENBAR_"), stems, n=1)
            unknown[name] = stems[close[0]] if close else None
    return unknown


def warn_of_unknown_variables(env: Mapping[str, str]) -> None:
    """Logs a warning for each `GREENBAR_*` name in `env` that greenbar does not read."""
    for name, closest in unknown_variables(env).items():
        guess = f"; did you mean {closest}?" if closest else ""
        log.warning("%s is not a greenbar setting and is ignored%s", name, guess)


def _convert(name: str, raw: str, kind: Any) -> Any:
    try:
        if kind in (int, "int"):
            return int(raw)
        if kind in (float, "float"):
            return float(raw)
        if kind in (bool, "bool"):
            return _boolean(raw)
        if str(kind).startswith("tuple"):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        return raw
    except ValueError as error:
        raise ConfigError(f"{name}={raw!r}: {error}") from error


def _boolean(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")
