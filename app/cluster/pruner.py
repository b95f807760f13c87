"""Pruning one node: kata volumes unused for a day, stale greenbar containers, supervisor
volumes of older versions and, if the operator asks, images not on the allowlist. Time is a
parameter: tests pass a later `now`."""

from collections.abc import Iterable
from typing import Any

from app.cluster.reaper import Reaper
from app.images.allowlist import normalized
from app.images.node_images import NodeImages
from app.katas.records import KataStore
from app.katas.volumes import KataVolumes
from app.sandbox.supervisor import SupervisorVolume


class Pruner:
    """Args:
    volumes: the node's kata volumes.
    katas: kata state, for last-used times.
    reaper: removes containers older than the longest run, and evaluators' stray volumes.
    images: the node's images.
    unused_seconds: a kata volume unused this long is removed.
    keep_images: the allowlist, or None to keep every image.
    supervisor: the node's supervisor volume, whose older versions go.
    """

    def __init__(
        self,
        volumes: KataVolumes,
        katas: KataStore,
        reaper: Reaper,
        images: NodeImages,
        unused_seconds: float,
        keep_images: Iterable[str] | None,
        supervisor: SupervisorVolume | None = None,
    ) -> None:
        self._supervisor = supervisor
        self._volumes = volumes
        self._katas = katas
        self._reaper = reaper
        self._images = images
        self._unused = unused_seconds
        self._keep = None if keep_images is None else {normalized(i) for i in keep_images}

    def prune(self, now: float) -> dict[str, Any]:
        """Prunes as of `now` (seconds since the epoch); says what it removed and kept."""
        report: dict[str, Any] = {"containers": self._reaper.reap(now)}
        report["evaluator_volumes"] = self._reaper.reap_volumes()
        report.update(self._prune_volumes(now))
        report["images"] = self._prune_images() if self._keep is not None else []
        report["supervisors"] = self._supervisor.prune() if self._supervisor is not None else []
        return report

    def _prune_volumes(self, now: float) -> dict[str, list[str]]:
        removed, in_use = [], []
        for volume in self._volumes.all():
            last = self._katas.last_used(volume.kata)
            if last is not None and now - last <= self._unused:
                continue
            # No record at all means its state expired: unused for longer than the state's TTL.
            if self._volumes.remove(volume.name):
                removed.append(volume.name)
                self._katas.forget(volume.kata)
            else:
                in_use.append(volume.name)
        return {"volumes": removed, "volumes_in_use": in_use}

    def _prune_images(self) -> list[str]:
        assert self._keep is not None
        removed = []
        for image in self._images.all():
            allowed = any(normalized(tag) in self._keep for tag in image["tags"])
            if not allowed and self._images.remove(image["id"]):
                removed.append(image["id"])
        return removed
