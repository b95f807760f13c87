"""The deployment files: docker-compose.yml, the Dockerfile and the Procfile agree.

docker-compose.yml cannot be brought up here (no base image can be pulled), so the compose tool
validates it and these tests read the tool's normalized configuration: the services, their
commands (the Procfile's), who gets the Docker socket, Redis's persistence and configuration.
The compose tool is the `docker compose` CLI plugin or `docker-compose`; with neither the tests
fail, since scripts/lib.sh installs Debian's docker-compose.
"""

import dataclasses
import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from honcho.environ import parse_procfile

from app.config import Settings
from tests.helpers import ROOT

GREENBAR_SERVICES = ("web", "worker", "beat", "flower")
SERVICES = {"redis", *GREENBAR_SERVICES}
DOCKER_SOCKET = "/var/run/docker.sock"
REDIS_URL = "redis://redis:6379/0"
DEFAULT = re.compile(r"\$\{(\w+):-([^}]*)\}")
YAML_TO_JSON = "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"


@dataclasses.dataclass(frozen=True)
class ComposeTool:
    """A compose command line and whether it is Compose v1 (Python, YAML output only)."""

    command: tuple[str, ...]
    v1: bool


@functools.cache
def compose_tool() -> ComposeTool:
    """Finds the compose tool: the `docker compose` plugin, else `docker-compose`.

    Returns:
        Its command line, and whether it is Compose v1.
    """
    if shutil.which("docker") and _succeeds(["docker", "compose", "version"]):
        return ComposeTool(("docker", "compose"), v1=False)
    found = shutil.which("docker-compose")
    if found is None:
        pytest.fail(
            "no compose tool: neither the `docker compose` CLI plugin nor `docker-compose` is "
            "installed; scripts/lib.sh's ensure_packages installs Debian's docker-compose "
            "(run scripts/test.sh)"
        )
    version = _output([found, "version", "--short"]).strip()
    return ComposeTool((found,), v1=version.startswith("1."))


def _succeeds(command: list[str]) -> bool:
    """Whether `command` exits 0."""
    return subprocess.run(command, capture_output=True, check=False).returncode == 0


def _output(command: list[str]) -> str:
    """What `command` prints; raises CalledProcessError when it fails."""
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def compose(*arguments: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """Runs the compose tool on docker-compose.yml with `settings` as its only GREENBAR_* ones.

    This shell's GREENBAR_* and COMPOSE_* variables are dropped and no `.env` file is read, so
    without `settings` every `${VAR:-default}` takes its default.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GREENBAR_", "COMPOSE_"))}
    env.update(settings)
    with tempfile.TemporaryDirectory() as folder:
        empty = Path(folder) / "empty.env"  # Compose v1 wants a regular file, not /dev/null
        empty.touch()
        options = ["--env-file", str(empty), "-f", "docker-compose.yml"]
        return subprocess.run(
            [*compose_tool().command, *options, *arguments],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )


def _v1_yaml_to_json(text: str) -> Any:
    """Parses Compose v1's YAML output with its own interpreter, which has PyYAML."""
    script = Path(compose_tool().command[0]).read_text(errors="replace").splitlines()[0]
    if not (script.startswith("#!") and "python" in script):
        pytest.fail(f"cannot tell docker-compose's Python from its first line: {script!r}")
    interpreter = shlex.split(script[2:])
    done = subprocess.run(
        [*interpreter, "-c", YAML_TO_JSON], input=text, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def load_config(**settings: str) -> dict[str, Any]:
    """The compose tool's normalized configuration, interpolated with `settings`, as data."""
    v1 = compose_tool().v1
    arguments = ["config"] if v1 else ["config", "--format", "json"]
    done = compose(*arguments, **settings)
    assert done.returncode == 0, done.stderr
    parsed = _v1_yaml_to_json(done.stdout) if v1 else json.loads(done.stdout)
    assert isinstance(parsed, dict)
    return parsed


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    """The configuration as deployed with no GREENBAR_* variable set."""
    return load_config()


@pytest.fixture(scope="module")
def procfile() -> dict[str, str]:
    """The Procfile's processes, read by honcho's own parser."""
    return dict(parse_procfile((ROOT / "Procfile").read_text()).processes)


def normalized(command: str | list[str]) -> list[str]:
    """A command as words, comparable between the Procfile and docker-compose.yml.

    `${VAR:-default}` becomes its default and the `.venv/bin/` prefix of a program goes.
    """
    words = shlex.split(DEFAULT.sub(r"\2", command)) if isinstance(command, str) else command
    return [DEFAULT.sub(r"\2", word).removeprefix(".venv/bin/") for word in words]


def mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """A service's mounts as (type, source, target): `bind` for a host path, else `volume`."""
    found = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            kind, source, target = volume["type"], volume.get("source", ""), volume["target"]
        else:
            source, _, rest = volume.partition(":")
            target = rest.partition(":")[0]
            kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
        found.append((kind, source, target))
    return found


def redis_options(command: str | list[str]) -> dict[str, str]:
    """`redis-server --name value ...` as {name: value}."""
    words = shlex.split(command) if isinstance(command, str) else list(command)
    assert words[0] == "redis-server", words
    flags = words[1:]
    return {flags[i].removeprefix("--"): flags[i + 1] for i in range(0, len(flags), 2)}


def test_the_compose_file_is_valid() -> None:
    done = compose("config", "-q")
    assert done.returncode == 0, done.stderr


def test_the_services_are_redis_web_worker_beat_and_flower(config: dict[str, Any]) -> None:
    assert set(config["services"]) == SERVICES


def test_only_the_worker_gets_the_docker_socket(config: dict[str, Any]) -> None:
    services = config["services"]
    assert mounts(services["worker"]) == [("bind", DOCKER_SOCKET, DOCKER_SOCKET)]
    for name, service in services.items():
        assert not service.get("privileged"), name
        if name != "worker":
            assert DOCKER_SOCKET not in json.dumps(service), name
            assert all(kind != "bind" for kind, _, _ in mounts(service)), name


def test_redis_persists_every_second_and_never_evicts(config: dict[str, Any]) -> None:
    redis = config["services"]["redis"]
    assert redis["image"].partition(":")[0] in ("redis", "docker.io/library/redis")
    options = redis_options(redis["command"])
    assert options["appendonly"] == "yes"
    assert options["appendfsync"] == "everysec"
    assert options["maxmemory-policy"] == "noeviction"
    [(kind, volume, target)] = mounts(redis)
    assert (kind, target) == ("volume", "/data")
    assert set(config["volumes"]) == {"redis-data"}
    assert "redis-data" in volume


def test_each_service_runs_its_procfile_command(
    config: dict[str, Any], procfile: dict[str, str]
) -> None:
    for name in GREENBAR_SERVICES:
        compose_command = config["services"][name]["command"]
        assert normalized(compose_command) == normalized(procfile[name]), name


def test_the_greenbar_services_share_one_image_built_here(config: dict[str, Any]) -> None:
    images = set()
    for name in GREENBAR_SERVICES:
        service = config["services"][name]
        build = service["build"]
        assert Path(build["context"]).resolve() == ROOT, name
        assert build.get("dockerfile", "Dockerfile") == "Dockerfile", name
        images.add(service["image"])
    assert len(images) == 1


def test_redis_is_the_compose_one_by_default(config: dict[str, Any]) -> None:
    for name in GREENBAR_SERVICES:
        assert config["services"][name]["environment"]["GREENBAR_REDIS_URL"] == REDIS_URL, name


def test_every_setting_reaches_every_greenbar_service() -> None:
    # Numbers, distinct per variable: GREENBAR_PORT, say, must still make a valid port mapping.
    names = ["GREENBAR_" + field.name.upper() for field in dataclasses.fields(Settings)]
    settings = {name: str(10000 + i) for i, name in enumerate(names)}
    basic_auth = {"GREENBAR_FLOWER_BASIC_AUTH": "operator:secret"}
    services = load_config(**settings, **basic_auth)["services"]
    for name in GREENBAR_SERVICES:
        environment = services[name]["environment"]
        wrong = {k: environment.get(k) for k, v in settings.items() if environment.get(k) != v}
        assert not wrong, (name, wrong)
    # Flower's credentials reach Flower only.
    for name in GREENBAR_SERVICES:
        got = services[name]["environment"].get("GREENBAR_FLOWER_BASIC_AUTH")
        assert got == ("operator:secret" if name == "flower" else None), name


def test_only_the_worker_runs_as_root(config: dict[str, Any]) -> None:
    services = config["services"]
    assert services["worker"]["user"] == "root"
    for name in GREENBAR_SERVICES:
        if name != "worker":
            assert "user" not in services[name], name
    users = re.findall(r"^USER\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert users and users[-1] not in ("root", "0"), users


def test_the_services_have_healthchecks(config: dict[str, Any]) -> None:
    services = config["services"]
    assert "/alive" in json.dumps(services["web"]["healthcheck"]["test"])
    for name in ("redis", "worker", "flower"):
        assert services[name]["healthcheck"]["test"], name


def test_the_dockerfile_installs_the_package_on_python_slim() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE) == ["python:3.11-slim"]
    assert re.search(r"^RUN\s+pip install \.(\s|$)", text, re.MULTILINE), "no `RUN pip install .`"


def test_honcho_accepts_the_procfile(procfile: dict[str, str]) -> None:
    honcho = Path(sys.executable).parent / "honcho"
    done = subprocess.run(
        [str(honcho), "check"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert list(procfile) == ["web", "worker", "beat", "flower"]
    lines = [line for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()]
    assert len(lines) == len(procfile), "a Procfile line honcho does not read as a process"
