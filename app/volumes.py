"""Kata volumes on a node's engine: created on first use, labelled, removed when unused.

A kata volume is a tmpfs of the local driver, `GREENBAR_KATA_QUOTA_MIB` and
`GREENBAR_SANDBOX_INODES` in size, so a run can never write more into it than into a fresh
sandbox. A tmpfs keeps its files only while mounted: a tiny holder container per kata mounts
it read-only between runs. If the holder dies (an engine restart) the files go, which costs
only speed: the client sends every file each run.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

import docker.errors

from app.config import Settings
from app.engine import Engine, removal, translated
from app.katas import volume_name
from app.sandbox import LABEL_DEPLOYMENT, LABEL_KIND, LABEL_NODE

LABEL_KATA = "greenbar.kata"
HOLDER = "kata-holder"


def holder_name(kata: str) -> str:
    return f"greenbar-kata-holder-{kata}"


@dataclass(frozen=True)
class KataVolume:
    name: str
    kata: str


class KataVolumes:
    """Args: engine: the node's engine. settings: the node's name, the deployment's (both go
    on every label; only this deployment's volumes are listed), the quota and the user."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings

    def _labels(self, kind: str, kata: str) -> dict[str, str]:
        return {
            LABEL_KIND: kind,
            LABEL_KATA: kata,
            LABEL_NODE: self._settings.node,
            LABEL_DEPLOYMENT: self._settings.deployment,
        }

    def ensure(self, kata: str, image: str) -> str:
        """The kata's volume on this node, created and held if missing; returns its name.

        Raises:
            ImageMissing: `image`, which the holder runs, is not on the node.
        """
        s = self._settings
        uid, _, gid = s.user.partition(":")
        size = f"size={s.kata_quota_mib}m,nr_inodes={s.sandbox_inodes},uid={uid},gid={gid}"
        options = {"type": "tmpfs", "device": "tmpfs", "o": f"{size},mode=0755"}
        with translated("create a volume"):
            self._engine.api.create_volume(
                volume_name(kata),
                driver="local",
                driver_opts=options,
                labels=self._labels("kata", kata),
            )
        self._hold(kata, image)
        return volume_name(kata)

    def _hold(self, kata: str, image: str) -> None:
        name = holder_name(kata)
        mount = {volume_name(kata): {"bind": "/kata", "mode": "ro"}}
        with translated("hold a kata volume"):
            try:
                host = self._engine.api.create_host_config(
                    binds=mount,
                    network_mode="none",
                    read_only=True,
                    cap_drop=["ALL"],
                    security_opt=["no-new-privileges"],
                    pids_limit=4,
                    mem_limit=32 * 2**20,
                    log_config={"type": "none"},
                )
                self._engine.api.create_container(
                    image,
                    command=["sh", "-c", "read line"],
                    name=name,
                    user=self._settings.user,
                    stdin_open=True,
                    network_disabled=True,
                    host_config=host,
                    labels=self._labels(HOLDER, kata),
                )
            except docker.errors.APIError as error:
                if error.status_code != 409:  # 409: it exists already
                    raise
            if not self._engine.api.inspect_container(name)["State"]["Running"]:
                try:
                    self._engine.api.start(name)
                except docker.errors.APIError:
                    # Another run of the kata started it a moment ago: that is as good.
                    if not self._engine.api.inspect_container(name)["State"]["Running"]:
                        raise

    def all(self) -> list[KataVolume]:
        with translated("list volumes"):
            mine = [f"{LABEL_KIND}=kata", f"{LABEL_DEPLOYMENT}={self._settings.deployment}"]
            found = self._engine.api.volumes(filters={"label": mine})
        return [
            KataVolume(v["Name"], (v.get("Labels") or {}).get(LABEL_KATA, ""))
            for v in found.get("Volumes") or []
        ]

    def users(self, name: str) -> list[bool]:
        """Whether each container that mounts volume `name`, its holder aside, is running."""
        with translated("list containers"):
            found = self._engine.api.containers(all=True, filters={"volume": name})
        return [
            c.get("State") == "running"
            for c in found
            if (c.get("Labels") or {}).get(LABEL_KIND) != HOLDER
        ]

    def remove(
        self,
        name: str,
        wait_seconds: float = 10,
        sleep: Callable[[float], None] = time.sleep,
    ) -> bool:
        """Removes volume `name` and its holder once no run uses it.

        A volume mounted by a running run is kept (False). Stopped containers that still
        mount it (a removal in flight) are waited for, so removal never fails with "volume is
        in use"; a run that starts meanwhile wins (False).
        """
        for _ in range(int(wait_seconds * 10)):
            users = self.users(name)
            if any(users):
                return False
            if not users:
                break
            sleep(0.1)
        self._engine.remove(holder_name(name.removeprefix(volume_name(""))))
        # "busy": a run mounted it after all.
        return removal(f"remove volume {name}", self._engine.api.remove_volume, name) != "busy"
