"""greenbar's sandbox supervisor on a node: the static binary every run container starts
with (sources and protocol in `supervisor/`), held in a named volume of its own per node,
deployment and version, mounted read-only at /greenbar. A volume, not a host path: no host
directory reaches a sandbox, and images need nothing of greenbar's.

Keys:
    greenbar:supervisor:<node>:<volume>:loading   held by its loader (externals/locks.py)
"""

import hashlib
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

from app.config import Settings
from app.errors import ConfigError
from app.externals import clock, locks
from app.externals.engine import EngineDoor
from app.externals.store import Client, translated
from app.sandbox.spec import LABEL_DEPLOYMENT, LABEL_KIND, LABEL_NODE

BINARY = Path(__file__).resolve().parents[2] / "build" / "greenbar-supervisor"
MOUNT = "/greenbar"
COMMAND = f"{MOUNT}/supervisor"
MARKER = "supervisor.sha256"  # written after the binary: its presence says the load finished
KIND = "supervisor"
LOAD_LOCK_SECONDS = 60
POLL_SECONDS = 0.05


@cache
def binary(path: str = "") -> bytes:
    """The supervisor's bytes, from `path` (default: `build/` beside the code).

    Raises:
        ConfigError: it was never built.
    """
    try:
        return Path(path or BINARY).read_bytes()
    except OSError as error:
        raise ConfigError(
            f"greenbar's sandbox supervisor is not built ({error}): run supervisor/build.py"
        ) from error


def volume_name(deployment: str, path: str = "") -> str:
    """The volume holding this version of the supervisor for `deployment`."""
    version = hashlib.sha256(binary(path)).hexdigest()[:12]
    return f"greenbar-supervisor-{re.sub(r'[^A-Za-z0-9_.-]', '_', deployment)}-{version}"


class SupervisorVolume:
    """Makes sure the node's supervisor volume exists and holds the binary, once per process.

    Args:
        engine: the node's engine.
        client: Redis, for the lock that lets one process load the volume.
        settings: the node's and deployment's names, for the labels.
        sleep: waits between looks at the lock, seconds.
    """

    def __init__(
        self,
        engine: EngineDoor,
        client: Client,
        settings: Settings,
        sleep: Callable[[float], None] = clock.sleep,
    ) -> None:
        self._engine = engine
        self._redis = client
        self._settings = settings
        self._sleep = sleep
        self.name = volume_name(settings.deployment, settings.supervisor_binary)
        self._ready = False

    @property
    def labels(self) -> dict[str, str]:
        s = self._settings
        return {LABEL_KIND: KIND, LABEL_NODE: s.node, LABEL_DEPLOYMENT: s.deployment}

    def ensure(self, image_id: str) -> str:
        """The volume's name, once it holds the binary; `image_id` (any image on the node)
        lends the created, never started, container that loads it."""
        if self._ready:
            return self.name
        key = f"greenbar:supervisor:{self._settings.node}:{self.name}:loading"
        loading = locks.lock(self._redis, key, LOAD_LOCK_SECONDS)
        with translated():
            while not loading.acquire(blocking=False):
                self._sleep(POLL_SECONDS)
        try:
            self._load(image_id)
        finally:
            with translated():
                locks.release(loading)
        self._ready = True
        return self.name

    def prune(self) -> list[str]:
        """Removes this deployment's supervisor volumes of other versions that no container
        uses; returns their names."""
        mine = [f"{LABEL_KIND}={KIND}", f"{LABEL_DEPLOYMENT}={self._settings.deployment}"]
        old = [name for name, _ in self._engine.volumes(mine) if name != self.name]
        return [name for name in old if self._engine.remove_volume(name) == "removed"]

    def forget(self) -> None:
        """Looks again next time (a container could not start: the volume may be gone)."""
        self._ready = False

    def _load(self, image_id: str) -> None:
        labels = self._engine.volume_labels(self.name)
        if labels is not None and labels.get(LABEL_KIND) != KIND:
            # Made empty by the engine for a container that named it after it was removed.
            self._engine.remove_volume(self.name)
        self._engine.create_volume(self.name, self.labels)
        content = binary(self._settings.supervisor_binary)
        files = {
            "supervisor": (content, 0o555),
            MARKER: (hashlib.sha256(content).hexdigest().encode(), 0o444),
        }
        self._engine.load_volume(self.name, image_id, files, MARKER, self.labels)
