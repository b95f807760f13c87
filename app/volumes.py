"""Kata volumes on a node's engine: created on first use, labelled, removed when unused."""

import time
from collections.abc import Callable
from dataclasses import dataclass

import docker.errors

from app.engine import Engine, translated
from app.katas import volume_name
from app.sandbox import LABEL_DEPLOYMENT, LABEL_KIND, LABEL_NODE

LABEL_KATA = "greenbar.kata"


@dataclass(frozen=True)
class KataVolume:
    name: str
    kata: str


class KataVolumes:
    """Args: engine: the node's engine. node: its name. deployment: the deployment's name;
    both go on every volume's labels, and only this deployment's volumes are listed."""

    def __init__(self, engine: Engine, node: str, deployment: str = "default") -> None:
        self._engine = engine
        self._node = node
        self._deployment = deployment

    def ensure(self, kata: str) -> str:
        """The kata's volume on this node, created if missing; returns its name."""
        labels = {
            LABEL_KIND: "kata",
            LABEL_KATA: kata,
            LABEL_NODE: self._node,
            LABEL_DEPLOYMENT: self._deployment,
        }
        with translated("create a volume"):
            self._engine.api.create_volume(volume_name(kata), labels=labels)  # idempotent
        return volume_name(kata)

    def all(self) -> list[KataVolume]:
        with translated("list volumes"):
            mine = [f"{LABEL_KIND}=kata", f"{LABEL_DEPLOYMENT}={self._deployment}"]
            found = self._engine.api.volumes(filters={"label": mine})
        return [
            KataVolume(v["Name"], (v.get("Labels") or {}).get(LABEL_KATA, ""))
            for v in found.get("Volumes") or []
        ]

    def users(self, name: str) -> list[bool]:
        """Whether each container that mounts volume `name` is running."""
        with translated("list containers"):
            found = self._engine.api.containers(all=True, filters={"volume": name})
        return [c.get("State") == "running" for c in found]

    def remove(
        self,
        name: str,
        wait_seconds: float = 10,
        sleep: Callable[[float], None] = time.sleep,
    ) -> bool:
        """Removes volume `name` once no container uses it.

        A volume mounted by a running container is kept (False). Stopped containers that
        still mount it (a removal in flight) are waited for, so removal never fails with
        "volume is in use"; a run that starts meanwhile wins (False).
        """
        for _ in range(int(wait_seconds * 10)):
            users = self.users(name)
            if any(users):
                return False
            if not users:
                break
            sleep(0.1)
        with translated(f"remove volume {name}"):
            try:
                self._engine.api.remove_volume(name)
            except docker.errors.NotFound:
                return True
            except docker.errors.APIError as error:
                if error.status_code == 409:  # a run mounted it after all
                    return False
                raise
        return True
