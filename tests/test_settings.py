"""Settings refuse nonsense and unsafe values at start, naming the variable and the rule
(issue 12, item 7)."""

import dataclasses
import re

import pytest

from app.config import Settings
from app.config_rules import BOUNDS
from app.errors import ConfigError


def refusal(env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(env)
    return str(refused.value)


# Numbers: every one has a range, named with the variable when broken.


@pytest.mark.parametrize(
    "name, raw, rule",
    [
        ("GREENBAR_POOL_SIZE", "-3", "from 0 to 64"),
        ("GREENBAR_MEMORY_MIB", "0", "from 64 to 65536 MiB"),
        ("GREENBAR_CPUS", "-1", "from 0.01 to 256"),
        ("GREENBAR_CPUS", "0", "from 0.01 to 256"),
        ("GREENBAR_PIDS_LIMIT", "1", "from 8 to 32768"),
        ("GREENBAR_PORT", "70000", "from 1 to 65535"),
        ("GREENBAR_SUPERVISOR_UID", "0", "never root"),
        ("GREENBAR_UID_BASE", "1000", "above the host's own users"),
        ("GREENBAR_WORKER_CONCURRENCY", "0", "from 1 to 256"),
        ("GREENBAR_RAG_LAMBDA_SECONDS", "nan", "from 0.05 to 60 seconds"),
        ("GREENBAR_WAIT_MAX_SECONDS", "120", "from 0 to 50 seconds"),
    ],
)
def test_a_number_out_of_its_range_is_refused_naming_the_variable_and_the_range(name, raw, rule):
    said = refusal({name: raw})
    assert re.search(f"{name}=\\S+ is out of range", said)
    assert rule in said


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_every_number_below_its_lowest_or_above_its_highest_is_refused(name):
    bound, variable = BOUNDS[name], f"GREENBAR_{name.upper()}"
    kind = {f.name: f.type for f in dataclasses.fields(Settings)}[name]
    for value in (bound.lowest - 1, bound.highest + 1):
        raw = str(kind(value))
        assert f"{variable}={raw} is out of range" in refusal({variable: raw})


def test_every_numeric_setting_has_a_range():
    numbers = {
        f.name for f in dataclasses.fields(Settings) if f.type in (int, float, "int", "float")
    }
    assert numbers == set(BOUNDS)


def test_a_number_given_as_something_else_by_code_is_refused():
    with pytest.raises(ConfigError, match="GREENBAR_POOL_SIZE=four is not a number"):
        Settings.from_env({}, pool_size="four")


# The sandbox's defences: none can be switched off.


@pytest.mark.parametrize(
    "name, raw, rule",
    [
        ("GREENBAR_NETWORK", "host", "must be 'none'. A sandbox never gets a network"),
        ("GREENBAR_NETWORK", "bridge", "must be 'none'"),
        ("GREENBAR_NETWORK", "container:redis", "must be 'none'"),
        ("GREENBAR_CAP_DROP", "", "must include ALL"),
        ("GREENBAR_CAP_DROP", "NET_RAW,SYS_ADMIN", "must include ALL"),
        ("GREENBAR_READ_ONLY", "false", "must be true"),
        ("GREENBAR_NO_NEW_PRIVILEGES", "0", "must be true"),
        ("GREENBAR_SECCOMP_PROFILE", "unconfined", "must be empty (the engine's default)"),
        ("GREENBAR_SECCOMP_PROFILE", "/etc/seccomp.json", "is not a JSON seccomp profile"),
    ],
)
def test_a_weakened_sandbox_is_refused_naming_the_variable_and_the_rule(name, raw, rule):
    said = refusal({name: raw})
    assert name in said
    assert rule in said


def test_the_hardening_may_be_stated_as_it_is():
    settings = Settings.from_env(
        {
            "GREENBAR_NETWORK": "none",
            "GREENBAR_CAP_DROP": "all,NET_RAW",
            "GREENBAR_READ_ONLY": "true",
            "GREENBAR_NO_NEW_PRIVILEGES": "yes",
            "GREENBAR_SECCOMP_PROFILE": '{"defaultAction": "SCMP_ACT_ERRNO"}',
        }
    )
    assert settings.cap_drop == ("all", "NET_RAW")


def test_a_settings_made_by_replace_is_held_to_the_same_rules():
    with pytest.raises(ConfigError, match="GREENBAR_NETWORK=host is refused"):
        dataclasses.replace(Settings(), network="host")


# Settings that contradict each other.


@pytest.mark.parametrize(
    "env, rule",
    [
        ({"GREENBAR_SUPERVISOR_UID": "100005"}, "GREENBAR_SUPERVISOR_UID must be a non-zero uid"),
        ({"GREENBAR_UID_BASE": "2147483000"}, "GREENBAR_UID_BASE and _COUNT must give uids"),
        (
            {"GREENBAR_VISIBILITY_TIMEOUT_SECONDS": "80"},
            "GREENBAR_VISIBILITY_TIMEOUT_SECONDS must exceed GREENBAR_MAX_SECONDS_LIMIT + 60",
        ),
        ({"GREENBAR_MEMORY_MIB": "80"}, "GREENBAR_MEMORY_MIB must exceed"),
        (
            {"GREENBAR_READ_CAP_MIB": "1", "GREENBAR_OUTPUT_LIMIT_KIB": "1024"},
            "GREENBAR_READ_CAP_MIB must hold stdout and stderr",
        ),
        ({"GREENBAR_REDIS_URL": "http://127.0.0.1:6379"}, "GREENBAR_REDIS_URL must start with"),
        ({"GREENBAR_NODE": " "}, "GREENBAR_NODE must not be empty"),
    ],
)
def test_settings_that_contradict_each_other_are_refused_naming_the_rule(env, rule):
    assert rule in refusal(env)


def test_every_problem_is_named_at_once():
    said = refusal({"GREENBAR_POOL_SIZE": "-3", "GREENBAR_NETWORK": "host", "GREENBAR_CPUS": "0"})
    named = {line.split("=")[0] for line in said.splitlines()}
    assert named == {"GREENBAR_POOL_SIZE", "GREENBAR_CPUS", "GREENBAR_NETWORK"}
