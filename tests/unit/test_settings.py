"""Settings refuse nonsense and unsafe values at start, naming the variable and the rule, and
a start warns of each GREENBAR_* name greenbar does not read (issue 12, item 7)."""

import dataclasses
import logging
import re
from pathlib import Path

import pytest

from app.config import OTHER_VARIABLES, Settings, unknown_variables, warn_of_unknown_variables
from app.config_rules import BOUNDS
from app.errors import ConfigError
from web import create_app

ROOT = Path(__file__).resolve().parents[2]


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
        (
            {"GREENBAR_READ_CAP_MIB": "1", "GREENBAR_CASES_MAX": "32"},
            "for build.sh and each of GREENBAR_CASES_MAX cases",
        ),
        ({"GREENBAR_REDIS_URL": "http://127.0.0.1:6379"}, "GREENBAR_REDIS_URL must start with"),
        ({"GREENBAR_NODE": " "}, "GREENBAR_NODE must not be empty"),
    ],
)
def test_settings_that_contradict_each_other_are_refused_naming_the_rule(env, rule):
    assert rule in refusal(env)


# Listening beyond loopback (issue 12, finding 6: the API, admin routes included, was open on
# 0.0.0.0 by default).


def test_the_api_listens_on_loopback_by_default():
    assert Settings().bind == "127.0.0.1"


@pytest.mark.parametrize(
    "env, named",
    [
        ({"GREENBAR_BIND": "0.0.0.0"}, "GREENBAR_BIND=0.0.0.0 is beyond loopback"),
        ({"GREENBAR_BIND": "10.1.2.3"}, "GREENBAR_BIND=10.1.2.3 is beyond loopback"),
        (
            {"GREENBAR_BIND": "0.0.0.0", "GREENBAR_PUBLISH_ADDRESS": "0.0.0.0"},
            "GREENBAR_PUBLISH_ADDRESS=0.0.0.0 is beyond loopback",
        ),
        (
            {"GREENBAR_BIND": "127.0.0.1", "GREENBAR_PUBLISH_ADDRESS": "192.0.2.7"},
            "GREENBAR_PUBLISH_ADDRESS=192.0.2.7 is beyond loopback",
        ),
    ],
)
def test_an_api_reached_beyond_loopback_without_tokens_is_refused(env, named):
    said = refusal(env)
    assert named in said
    assert "GREENBAR_INSECURE_OPEN=1" in said


@pytest.mark.parametrize(
    "env",
    [
        {"GREENBAR_BIND": "0.0.0.0", "GREENBAR_CLIENT_TOKENS": "a-client"},
        {"GREENBAR_BIND": "0.0.0.0", "GREENBAR_ADMIN_TOKENS": "an-admin"},
        {"GREENBAR_BIND": "0.0.0.0", "GREENBAR_INSECURE_OPEN": "1"},
        # compose: every interface of the container, published on the host's loopback
        {"GREENBAR_BIND": "0.0.0.0", "GREENBAR_PUBLISH_ADDRESS": "127.0.0.1"},
        {"GREENBAR_BIND": "::1"},
        {"GREENBAR_BIND": "localhost"},
    ],
)
def test_an_api_beyond_loopback_with_tokens_or_asked_for_or_on_loopback_is_accepted(env):
    Settings.from_env(env)


def test_every_problem_is_named_at_once():
    said = refusal({"GREENBAR_POOL_SIZE": "-3", "GREENBAR_NETWORK": "host", "GREENBAR_CPUS": "0"})
    named = {line.split("=")[0] for line in said.splitlines()}
    assert named == {"GREENBAR_POOL_SIZE", "GREENBAR_CPUS", "GREENBAR_NETWORK"}


# Names greenbar does not read.


def test_a_mistyped_name_is_reported_with_the_closest_known_one():
    env = {"GREENBAR_MEMORY_MB": "512", "GREENBAR_POOLSIZE": "2", "GREENBAR_XYZZY": "1"}
    assert unknown_variables(env) == {
        "GREENBAR_MEMORY_MB": "GREENBAR_MEMORY_MIB",
        "GREENBAR_POOLSIZE": "GREENBAR_POOL_SIZE",
        "GREENBAR_XYZZY": None,
    }


def test_settings_names_read_elsewhere_and_other_names_are_not_reported():
    env = {name: "1" for name in OTHER_VARIABLES} | {"GREENBAR_MEMORY_MIB": "512", "HOME": "/"}
    assert unknown_variables(env) == {}


def test_the_warning_names_the_variable_and_suggests_the_closest(caplog):
    with caplog.at_level(logging.WARNING, logger="app.config"):
        warn_of_unknown_variables({"GREENBAR_MEMORY_MB": "512"})
    assert caplog.messages == [
        "GREENBAR_MEMORY_MB is not a greenbar setting and is ignored;"
        " did you mean GREENBAR_MEMORY_MIB?"
    ]


def test_every_greenbar_variable_read_by_greenbar_is_a_setting_or_listed_as_read_elsewhere():
    readers = [ROOT / "Procfile", ROOT / "docker-compose.yml", ROOT / "Dockerfile"]
    for folder in ("app", "web", "tasks", "cli", "scripts"):
        readers += [p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".sh")]
    named = {n for p in readers for n in re.findall(r"GREENBAR_[A-Z0-9_]+", p.read_text())}
    known = {f"GREENBAR_{f.name.upper()}" for f in dataclasses.fields(Settings)}
    assert named - known - OTHER_VARIABLES == set()


def test_the_web_app_warns_of_a_mistyped_name_as_it_starts(monkeypatch, caplog):
    monkeypatch.setenv("GREENBAR_MEMORY_MB", "512")
    with caplog.at_level(logging.WARNING, logger="app.config"):
        create_app()
    assert any("did you mean GREENBAR_MEMORY_MIB?" in m for m in caplog.messages)
