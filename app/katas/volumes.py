"""Kata volumes on a node's engine: created on first use, labelled, removed when unused.

A kata volume is a tmpfs of the local driver, `GREENBAR_KATA_QUOTA_MIB` and
`GREENBAR_SANDBOX_INODES` in size, so a run can never write more into it than into a fresh
sandbox. Its files belong to a uid of the kata's own, taken from the node's range when the
volume is made (label `greenbar.uid`): every run of the kata runs as it. A tmpfs keeps its
files only while mounted: a tiny holder container per kata mounts it read-only between runs.
If the holder dies (an engine restart) the files go, which costs only speed: the client sends
every file each run.

Volumes are named by the kata's opaque reference (`app.katas.records.KataStore.ref`), never by the
id a client chose, so a name says nothing of whose kata it is.
"""

from collections.abc import Callable
from dataclasses import dataclass

from app.config import Settings
from app.externals import clock
from app.externals.engine import EngineDoor
from app.katas.records import volume_name
from app.sandbox.spec import LABEL_DEPLOYMENT, LABEL_KIND, LABEL_NODE
from app.sandbox.uids import UidAllocator

LABEL_KATA = "greenbar.kata"
LABEL_UID = "greenbar.uid"
HOLDER = "kata-holder"


def holder_name(kata: str) -> str:
    return f"greenbar-kata-holder-{kata}"


@dataclass(frozen=True)
class KataVolume:
    name: str
    kata: str
    uid: int = 0


class KataVolumes:
    """Args: engine: the node's engine. settings: the node's name, the deployment's (both go
    on every label; only this deployment's volumes are listed) and the quota. uids: the uid a
    new kata's files belong to."""

    def __init__(self, engine: EngineDoor, settings: Settings, uids: UidAllocator) -> None:
        self._engine = engine
        self._settings = settings
        self._uids = uids

    def _labels(self, kind: str, kata: str) -> dict[str, str]:
        return {
            LABEL_KIND: kind,
            LABEL_KATA: kata,
            LABEL_NODE: self._settings.node,
            LABEL_DEPLOYMENT: self._settings.deployment,
        }

    def ensure(self, kata: str, image: str) -> KataVolume:
        """The kata's volume on this node, created and held if missing.

        Raises:
            ImageMissing: `image`, which the holder runs, is not on the node.
        """
        s, uid = self._settings, self._uids.allocate()
        size = f"size={s.kata_quota_mib}m,nr_inodes={s.sandbox_inodes},uid={uid},gid={uid}"
        options = {"type": "tmpfs", "device": "tmpfs", "o": f"{size},mode=0755"}
        labels = {**self._labels("kata", kata), LABEL_UID: str(uid)}
        held = self._engine.create_volume(volume_name(kata), labels, options)
        uid = int(held.get(LABEL_UID, uid))  # an existing volume keeps the uid it was made with
        self._hold(kata, image, uid)
        return KataVolume(volume_name(kata), kata, uid)

    def _hold(self, kata: str, image: str, uid: int) -> None:
        self._engine.image_id(image)  # ImageMissing before anything is made
        host = {
            "binds": {volume_name(kata): {"bind": "/kata", "mode": "ro"}},
            "network_mode": "none",
            "read_only": True,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            # Not 4: runc's own init counts in the pids cgroup until it execs sh, with the Go
            # runtime's threads, and under load it died at 4 ("cannot start a stopped process").
            "pids_limit": 16,
            "mem_limit": 32 * 2**20,
            "log_config": {"type": "none"},
        }
        self._engine.ensure_running(
            {
                "image": image,
                "command": ["sh", "-c", "read line"],
                "name": holder_name(kata),
                "user": f"{uid}:{uid}",
                "stdin_open": True,
                "network_disabled": True,
                "host_config": host,
                "labels": self._labels(HOLDER, kata),
            }
        )

    def all(self) -> list[KataVolume]:
        mine = [f"{LABEL_KIND}=kata", f"{LABEL_DEPLOYMENT}={self._settings.deployment}"]
        return [
            KataVolume(name, labels.get(LABEL_KATA, ""), int(labels.get(LABEL_UID, 0)))
            for name, labels in self._engine.volumes(mine)
        ]

    def users(self, name: str) -> list[bool]:
        """Whether each container that mounts volume `name`, its holder aside, is running."""
        return [
            running
            for labels, running in self._engine.users_of(name)
            if labels.get(LABEL_KIND) != HOLDER
        ]

    def remove(
        self,
        name: str,
        wait_seconds: float = 10,
        sleep: Callable[[float], None] = clock.sleep,
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
        return self._engine.remove_volume(name) != "busy"  # busy: a run mounted it after all
