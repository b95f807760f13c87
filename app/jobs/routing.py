"""Where a run goes, decided before it is queued, so no run waits for a worker nobody runs.

In order: the node holding its kata's volume, while that node is live; a worker scoped to its
track, if one is live; any generic worker. With none of these live, the run is refused.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from app.cluster.workers import Heartbeat
from app.errors import ServiceUnavailable
from app.katas.records import KataStore


@dataclass(frozen=True)
class Route:
    kind: Literal["node", "track", "generic"]
    name: str = ""  # the node or the track


def route_run(
    kata: str | None, track: str | None, katas: KataStore, workers: Iterable[Heartbeat]
) -> Route:
    """The route of a run, given the live workers' heartbeats.

    Raises:
        ServiceUnavailable: no live worker can take the run; the message names its track.
    """
    workers = list(workers)
    if kata is not None:
        node = katas.node_of(kata)
        if node is not None and any(w.node == node for w in workers):
            return Route("node", node)
    if track is not None and any(track in w.tracks for w in workers):
        return Route("track", track)
    if any(w.generic for w in workers):
        return Route("generic")
    if track is not None:
        raise ServiceUnavailable(
            f"no live worker can run track {track}: none is scoped to it and none is generic"
        )
    raise ServiceUnavailable("no live generic worker can run this image")
