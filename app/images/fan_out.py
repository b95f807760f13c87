"""Sending pulls out to nodes, and the one rule on whether pulls happen at all
(GREENBAR_PULLS_ENABLED): an admin's pull and a track's deployment (`start`), the beat's
scheduled pulls (`schedule`), a worker's pulls as it starts (`prepull`) and a run that finds its
image missing (`request`) all ask here."""

from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from app.config import Settings
from app.errors import ServiceUnavailable
from app.images.tracks import to_prepull
from app.jobs.queues import PULL_TASK, node_queue
from app.jobs.submission import Send

if TYPE_CHECKING:
    from app.wiring import Stores

DISABLED = "pulls are disabled on this deployment (GREENBAR_PULLS_ENABLED=false)"


class PullFanOut:
    """Args:
    stores: greenbar's records (nodes, pulls, admission, tracks, periods).
    settings: the allowlist, the tracks a worker serves, whether pulls are on, their period.
    send: hands a task to the broker.
    """

    def __init__(self, stores: "Stores", settings: Settings, send: Send) -> None:
        self._stores = stores
        self._settings = settings
        self._send = send
        self.enabled = settings.pulls_enabled

    def start(self, image: str) -> dict[str, Any]:
        """Sends a pull of `image` to every live node, each node's queue admitting it or none
        sent; returns the pull's record, or a `disabled` state.

        Raises:
            ServiceUnavailable: no node is live, or a node's queue is full.
        """
        if not self.enabled:
            return {"image": image, "state": "disabled", "message": DISABLED}
        stores = self._stores
        nodes = sorted(stores.registry.nodes())
        if not nodes:
            raise ServiceUnavailable("no live node to pull onto")
        with ExitStack() as places:
            for node in nodes:
                places.enter_context(stores.admission.admitted(node_queue(node), "jobs"))
            pull_id = stores.pulls.fan_out(image, nodes, self._to_node)
        return {**stores.pulls.get(pull_id), "state": "pulling"}

    def schedule(self) -> dict[str, Any]:
        """The beat's pulls: every allowlisted image and every track's live one to every live
        node, once per period however many beats ask."""
        if not self.enabled:
            return {"state": "disabled", "message": DISABLED}
        stores, minutes = self._stores, self._settings.pull_interval_minutes
        if not stores.periodic.claim("pulls", minutes * 60):
            return {"state": "skipped", "message": "another beat sent this period's pulls"}
        images = to_prepull(self._settings.images, (), stores.tracks)
        nodes = stores.registry.nodes()
        sent = {image: stores.pulls.fan_out(image, nodes, self._to_node) for image in images}
        return {"state": "sent", "pulls": sent}

    def prepull(self) -> list[str]:
        """Asks this worker's node to pull the images the worker runs (a scoped worker: only
        its tracks' live images); returns them (none while pulls are off)."""
        if not self.enabled:
            return []
        wanted = to_prepull(self._settings.images, self._settings.tracks, self._stores.tracks)
        for image in wanted:
            self._send(PULL_TASK, [image, None], node_queue(self._settings.node))
        return wanted

    def request(self, image: str) -> None:
        """Asks this node to pull `image` for a run that found it missing, unless the node is
        pulling it already."""
        node = self._settings.node
        if self.enabled and not self._stores.pulls.is_locked(node, image):
            self._send(PULL_TASK, [image, None], node_queue(node))

    def _to_node(self, image: str, pull_id: str, node: str) -> None:
        self._send(PULL_TASK, [image, pull_id], node_queue(node))
