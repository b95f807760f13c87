"""Per-image resource profiles: `GREENBAR_IMAGE_PROFILES`, a JSON object from an image-name
pattern to the container settings its runs get instead of the node's, e.g.

    {"cyberdojofoundation/clang*": {"memory_mib": 2048, "extra_capabilities": ["SYS_PTRACE"]}}

Patterns are shell globs (`fnmatch`, case-sensitive) over the image name as the run asked for
it; the first that matches wins. Only the container's limits may differ (`PROFILE_FIELDS`),
and each profiled set of settings is held to every rule the node's are.
"""

import dataclasses
import fnmatch
import json
from typing import Any

from app.errors import ConfigError

# The limits a profile may change: sizes, counts and capabilities of the run's container.
PROFILE_FIELDS = {
    "memory_mib": int,
    "cpus": float,
    "pids_limit": int,
    "ulimit_fsize_mib": int,
    "ulimit_nofile": int,
    "ulimit_stack_mib": int,
    "sandbox_tmpfs_mib": int,
    "sandbox_inodes": int,
    "tmp_tmpfs_mib": int,
    "tmp_inodes": int,
    "home_tmpfs_mib": int,
    "home_inodes": int,
    "extra_capabilities": tuple,
}
# What a container may be given beyond the supervisor's four. The supervisor hands the run
# none of them; a capability in the container's set only relaxes the engine's default seccomp
# profile: with SYS_PTRACE it allows ptrace, process_vm_readv and kcmp among the run's own
# processes, which sanitizers (clang's -fsanitize=address) need, as cyber-dojo grants clang.
GRANTABLE_CAPABILITIES = frozenset({"SYS_PTRACE"})
VARIABLE = "GREENBAR_IMAGE_PROFILES"


def profiles(text: str) -> list[tuple[str, dict[str, Any]]]:
    """The profiles in order, each pattern with its settings converted to their fields' types.

    Raises:
        ValueError: not a JSON object of objects, an unknown field, or a value of a wrong type.
    """
    if not text.strip():
        return []
    parsed = json.loads(text)
    if not isinstance(parsed, dict):
        raise ValueError("it is not a JSON object of image pattern to settings")
    return [(pattern, _fields(pattern, fields)) for pattern, fields in parsed.items()]


def _fields(pattern: str, fields: Any) -> dict[str, Any]:
    if not isinstance(fields, dict):
        raise ValueError(f"{pattern!r}: its settings are not a JSON object")
    converted: dict[str, Any] = {}
    for name, value in fields.items():
        kind = PROFILE_FIELDS.get(name)
        if kind is None:
            known = ", ".join(PROFILE_FIELDS)
            raise ValueError(f"{pattern!r}: {name!r} cannot be set per image (only {known})")
        if kind is tuple and isinstance(value, list) and all(isinstance(v, str) for v in value):
            converted[name] = tuple(value)
        elif kind in (int, float) and _number(value, kind):
            converted[name] = kind(value)
        else:
            raise ValueError(f"{pattern!r}: {name}={value!r} is not {kind.__name__}")
    return converted


def _number(value: Any, kind: type) -> bool:
    allowed = (int, float) if kind is float else (int,)
    return isinstance(value, allowed) and not isinstance(value, bool)


def for_image(settings: Any, image: str) -> Any:
    """`settings` with the first profile matching `image` applied; `settings` itself if none
    does. Raises ConfigError only for a profile the start's check would have refused."""
    for pattern, fields in profiles(settings.image_profiles):
        if fnmatch.fnmatchcase(image, pattern):
            return dataclasses.replace(settings, image_profiles="", **fields)
    return settings


def profile_problems(s: Any) -> list[str]:
    """A line for each profile that cannot be used, and for a capability not grantable."""
    problems = [
        f"GREENBAR_EXTRA_CAPABILITIES: {c!r} cannot be given to a run's container (only"
        f" {', '.join(sorted(GRANTABLE_CAPABILITIES))})"
        for c in s.extra_capabilities
        if c not in GRANTABLE_CAPABILITIES
    ]
    try:
        found = profiles(s.image_profiles)
    except ValueError as error:
        return [*problems, f"{VARIABLE} is refused: {error}"]
    for pattern, fields in found:
        try:
            dataclasses.replace(s, image_profiles="", **fields)
        except ConfigError as error:
            problems += [f"{VARIABLE} {pattern!r}: {line}" for line in str(error).splitlines()]
    return problems
