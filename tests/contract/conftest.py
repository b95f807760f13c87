"""The engines the contract runs against, as dramatiq runs its tests against each broker: the
node's real dockerd through `Engine`, and `MemoryEngine`. Each test gets a label of its own;
whatever carries it is removed afterwards, and the engine must then list nothing with it.

Also what the unit tests of the run path over a MemoryEngine import (they need no Docker): a
private Redis, and the run path's real classes wired to both. They are named `fixture_*` so a
module imports them (and pytest finds them there) without shadowing its tests' arguments.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from app.config import Settings
from app.externals import clock, ids
from app.externals.clock import ManualClock
from app.externals.engine import Engine, EngineDoor
from app.externals.memory_engine import MemoryEngine
from app.externals.store import Client
from app.sandbox.pool import WarmPool
from app.sandbox.runner import Runner
from app.sandbox.supervisor import SupervisorVolume
from app.sandbox.uids import UidAllocator
from tests.contract.programs import Described
from tests.helpers import DEPLOYMENT, redis_server

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "greenbar/busybox-sh:latest"
LABEL = "greenbar.contract"
# The files of IMAGE the contract reads back (COPY'd by images/busybox-sh/Dockerfile).
IMAGE_FILES = {
    "/usr/local/bin/red_amber_green.py": "images/busybox-sh/red_amber_green.py",
    "/etc/passwd": "images/busybox-sh/etc/passwd",
}


@dataclass
class Side:
    """One engine under the contract, and the little the contract needs beside its verbs."""

    engine: EngineDoor
    memory: MemoryEngine | None  # the stand-in, when this side is one
    image: str = IMAGE
    run: str = field(default_factory=lambda: ids.token(6))

    @property
    def labels(self) -> dict[str, str]:
        """Labels for everything the test makes: its own, and the suite's deployment."""
        return {LABEL: self.run, "greenbar.deployment": DEPLOYMENT, "greenbar.kind": "contract"}

    @property
    def container_labels(self) -> dict[str, str]:
        """What a container made with `labels` carries: its image's labels too."""
        inherited = self.engine.image(self.image)["Config"].get("Labels") or {}
        return {**inherited, **self.labels}

    def name(self, what: str) -> str:
        return f"greenbar-contract-{self.run}-{what}"

    def spec(self, name: str, program: Described, **host: Any) -> dict[str, Any]:
        """`create` keywords for container `name` of IMAGE running `program`."""
        if self.memory is not None:
            self.memory.play(name, program.played)
        return {
            "image": self.image,
            "command": ["sh", "-c", program.shell],
            "name": name,
            "stdin_open": True,
            "network_disabled": True,
            "labels": self.labels,
            "host_config": {"network_mode": "none", "log_config": {"type": "none"}, **host},
        }

    def clean(self) -> None:
        """Removes whatever carries this test's label; the engine must list none of it then."""
        mine = f"{LABEL}={self.run}"
        for container in self.engine.labelled(mine):
            self.engine.remove(container.name)
        for volume, _ in self.engine.volumes([mine]):
            self.engine.remove_volume(volume)
        assert self.engine.labelled(mine) == [] and self.engine.volumes([mine]) == []


@pytest.fixture
def docker_side(images: None) -> Iterator[Side]:
    side = Side(Engine.from_env(), None)
    yield side
    side.clean()


@pytest.fixture
def memory_side() -> Iterator[Side]:
    memory = MemoryEngine()
    files = {path: (ROOT / source).read_bytes() for path, source in IMAGE_FILES.items()}
    memory.add_image(IMAGE, labels={"greenbar.content-hash": "in memory"}, files=files)
    side = Side(memory, memory)
    yield side
    side.clean()


@pytest.fixture(params=["docker", "memory"])
def side(request: pytest.FixtureRequest) -> Side:
    value: Side = request.getfixturevalue(f"{request.param}_side")
    return value


@pytest.fixture(name="private_redis", scope="session")
def fixture_private_redis() -> Iterator[str]:
    """A redis-server of the tests' own on a free port; its URL."""
    with redis_server() as url:
        yield url


@dataclass
class RunPath:
    """The run path's real parts over a MemoryEngine and a private Redis, for one test (its
    node's name is its own, so no two tests share a Redis key)."""

    engine: MemoryEngine
    settings: Settings
    client: Client
    supervisor: SupervisorVolume
    uids: UidAllocator

    def runner(
        self, now: Any = clock.monotonic, pool: WarmPool | None = None, grace: float = 2.0
    ) -> Runner:
        """A runner on `now`; a ManualClock's sleeps move it, as the real clock's do."""
        sleep = now.sleep if isinstance(now, ManualClock) else clock.sleep
        parts = (self.engine, self.settings, self.supervisor, self.uids)
        return Runner(*parts, now, pool, sleep, grace)


@pytest.fixture(name="run_path")
def fixture_run_path(private_redis: str, tmp_path: Path) -> Iterator[RunPath]:
    binary = tmp_path / "greenbar-supervisor"
    binary.write_bytes(b"a supervisor, played by MemoryEngine")
    settings = Settings.from_env(
        {},
        redis_url=private_redis,
        node=f"unit-{ids.token(4)}",
        deployment=f"{DEPLOYMENT}-unit",
        supervisor_binary=str(binary),
    )
    client: Client = redis.Redis.from_url(private_redis)
    engine = MemoryEngine()
    uids = UidAllocator(client, settings.node, settings.uid_base, settings.uid_count)
    yield RunPath(engine, settings, client, SupervisorVolume(engine, client, settings), uids)
    client.close()
