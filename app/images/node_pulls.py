"""A pull job on this node: one pull per image and node at a time, its state recorded."""

import logging
from collections.abc import Callable

from app.cluster.metrics import Metrics
from app.externals import clock
from app.images.pull_records import LOCK_SECONDS, PullStore
from app.images.puller import ImagePuller, PullState
from app.logs import event

WAIT_POLL_SECONDS = 0.5
log = logging.getLogger(__name__)


class NodePulls:
    """Args:
    puller: pulls onto this node.
    pulls: pull records and locks.
    node: this node's name.
    sleep: waits, while another pull of the same image finishes.
    """

    def __init__(
        self,
        puller: ImagePuller,
        pulls: PullStore,
        node: str,
        metrics: Metrics,
        sleep: Callable[[float], None] = clock.sleep,
    ) -> None:
        self._metrics = metrics
        self._puller = puller
        self._pulls = pulls
        self._node = node
        self._sleep = sleep

    def pull(self, image: str, pull_id: str | None = None) -> PullState:
        """Pulls `image` here, recording progress under `pull_id` if given.

        If this node is already pulling the image, waits for that pull instead of starting
        a second, and reports what it brought.
        """

        def report(state: PullState) -> None:
            if pull_id is not None:
                self._pulls.update(pull_id, self._node, state)

        if self._pulls.lock(self._node, image):
            try:
                state = self._puller.pull(image, report)
            finally:
                self._pulls.unlock(self._node, image)
        else:
            state = self._await_other_pull(image)
        report(state)
        event(log, "pull.finished", image=image, node=self._node, pull_id=pull_id, **state)
        self._metrics.count("pulls_total", state=state["state"])
        self._metrics.flush()
        return state

    def _await_other_pull(self, image: str) -> PullState:
        for _ in range(int(LOCK_SECONDS / WAIT_POLL_SECONDS)):
            if not self._pulls.is_locked(self._node, image):
                break
            self._sleep(WAIT_POLL_SECONDS)
        return self._puller.current(image)
