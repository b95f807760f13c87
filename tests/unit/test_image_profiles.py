"""Per-image resource profiles (issue 14): GREENBAR_IMAGE_PROFILES maps image-name patterns to
container limits, held to every rule the node's settings are, applied in the container spec;
SYS_PTRACE is the only capability they may add."""

import json

import pytest

from app.config import Settings
from app.errors import ConfigError
from app.sandbox.spec import spec

CLANG = {"memory_mib": 2048, "ulimit_fsize_mib": 256, "extra_capabilities": ["SYS_PTRACE"]}
PROFILES = json.dumps(
    {
        "cyberdojofoundation/clang*": CLANG,
        "greenbar/python-pytest": {"home_tmpfs_mib": 32, "home_inodes": 4096},
        "greenbar/*": {"sandbox_tmpfs_mib": 8},
    }
)


def settings(**fields):
    return Settings.from_env({}, image_profiles=PROFILES, **fields)


def refusal(**fields) -> str:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({}, **fields)
    return str(refused.value)


def test_an_image_no_pattern_matches_runs_with_the_nodes_settings_themselves():
    node = settings()
    assert node.for_image("cyberdojofoundation/gcc_assert") is node


def test_the_first_matching_pattern_wins():
    node = settings()
    assert node.for_image("greenbar/python-pytest").home_tmpfs_mib == 32
    assert node.for_image("greenbar/python-pytest").sandbox_tmpfs_mib == 64, "not greenbar/*'s"
    assert node.for_image("greenbar/busybox-sh").sandbox_tmpfs_mib == 8


def test_a_profiles_limits_reach_the_containers_spec_and_nothing_else_changes():
    profiled = settings().for_image("cyberdojofoundation/clang_assert:latest")
    host = spec(profiled, "sha256:abc", "n", {}, 100001, "sup")["host_config"]
    assert host["mem_limit"] == host["memswap_limit"] == 2048 * 1024 * 1024
    assert {"name": "fsize", "soft": 256 << 20, "hard": 256 << 20} in host["ulimits"]
    assert host["cap_add"] == ["SETUID", "SETGID", "KILL", "SETPCAP", "SYS_PTRACE"]
    assert host["cap_drop"] == ["ALL"] and host["read_only"] is True
    assert "size=64m" in host["tmpfs"]["/sandbox"]


def test_an_unprofiled_container_gets_no_capability_beyond_the_supervisors():
    host = spec(settings(), "sha256:abc", "n", {}, 100001, "sup")["host_config"]
    assert host["cap_add"] == ["SETUID", "SETGID", "KILL", "SETPCAP"]


@pytest.mark.parametrize(
    "profiles, rule",
    [
        ("not json", "GREENBAR_IMAGE_PROFILES is refused"),
        ('["a list"]', "not a JSON object"),
        ('{"x/*": {"network": "bridge"}}', "'network' cannot be set per image"),
        ('{"x/*": {"read_only": false}}', "'read_only' cannot be set per image"),
        ('{"x/*": {"memory_mib": "lots"}}', "memory_mib='lots' is not int"),
        ('{"x/*": {"memory_mib": true}}', "memory_mib=True is not int"),
        ('{"x/*": {"memory_mib": 10}}', "'x/*': GREENBAR_MEMORY_MIB=10 is out of range"),
        ('{"x/*": {"sandbox_tmpfs_mib": 1024}}', "'x/*': GREENBAR_MEMORY_MIB must exceed"),
        ('{"x/*": {"extra_capabilities": ["SYS_ADMIN"]}}', "'SYS_ADMIN' cannot be given"),
    ],
)
def test_a_profile_that_cannot_be_used_refuses_the_start_naming_the_pattern_and_rule(
    profiles, rule
):
    assert rule in refusal(image_profiles=profiles)


def test_only_sys_ptrace_may_be_added_to_every_container():
    assert "'NET_ADMIN' cannot be given" in refusal(extra_capabilities=("NET_ADMIN",))
    node = Settings.from_env({"GREENBAR_EXTRA_CAPABILITIES": "SYS_PTRACE"})
    assert spec(node, "sha256:abc", "n", {}, 100001, "sup")["host_config"]["cap_add"][-1] == (
        "SYS_PTRACE"
    )
