"""Pulling an image onto this node, with progress, and telling the rag cache about new digests."""

from collections.abc import Callable
from typing import Any, TypedDict

from app.colour.rag_cache import RagCache
from app.errors import ImageMissing, PullFailed
from app.externals import clock
from app.images.node_images import NodeImages

REPORT_EVERY_SECONDS = 0.5


class PullState(TypedDict):
    state: str  # pulling, pulled, failed or disabled
    digest: str
    progress: dict[str, int]
    error: str
    changed: bool  # the pull brought a new digest


class Progress:
    """Folds the engine's pull events into layer and byte counts."""

    def __init__(self) -> None:
        self._layers: dict[str, tuple[int, int, bool]] = {}  # id -> (current, total, done)

    def update(self, event: dict[str, Any]) -> None:
        layer, status = event.get("id"), str(event.get("status", ""))
        if not layer or status.startswith(("Pulling from", "Digest", "Status")):
            return
        current, total, done = self._layers.get(layer, (0, 0, False))
        detail = event.get("progressDetail") or {}
        if status == "Downloading":
            current, total = int(detail.get("current", current)), int(detail.get("total", total))
        done = done or status in ("Pull complete", "Already exists", "Download complete")
        self._layers[layer] = (current if not done else max(current, total), total, done)

    def summary(self) -> dict[str, int]:
        values = self._layers.values()
        return {
            "layers_done": sum(1 for _, _, done in values if done),
            "layers_total": len(self._layers),
            "bytes_done": sum(current for current, _, _ in values),
            "bytes_total": sum(total for _, total, _ in values),
        }


class ImagePuller:
    """Pulls images onto one node.

    Args:
        images: the node's images.
        cache: told the new digest's rag lambda at once, so the first run does not pay for it.
        enabled: False turns every pull into a no-op that says so.
        clock: monotonic seconds, to pace progress reports.
    """

    def __init__(
        self,
        images: NodeImages,
        cache: RagCache,
        enabled: bool,
        clock: Callable[[], float] = clock.monotonic,
    ) -> None:
        self._images = images
        self._cache = cache
        self._enabled = enabled
        self._clock = clock

    def pull(self, image: str, report: Callable[[PullState], None]) -> PullState:
        """Pulls `image`, reporting progress now and then, and returns the final state."""
        if not self._enabled:
            return _state("disabled", error="pulls are disabled (GREENBAR_PULLS_ENABLED=false)")
        before = self._digest(image)
        progress, last = Progress(), self._clock()
        report(_state("pulling", before))

        def on_event(event: dict[str, Any]) -> None:
            nonlocal last
            progress.update(event)
            if self._clock() - last >= REPORT_EVERY_SECONDS:
                last = self._clock()
                report(_state("pulling", before, progress.summary()))

        try:
            self._images.pull(image, on_event)
        except PullFailed as error:
            return _state("failed", before, progress.summary(), str(error))
        after = self._digest(image)
        if after != before:
            self._cache.fetch(after)  # read the new image's lambda into the cache now
        return _state("pulled", after, progress.summary(), changed=after != before)

    def current(self, image: str) -> PullState:
        """The image as this node holds it now: `pulled` with its digest, or `failed`."""
        digest = self._digest(image)
        if digest:
            return _state("pulled", digest)
        return _state("failed", error=f"{image} is not on this node after another pull of it")

    def _digest(self, image: str) -> str:
        try:
            return self._images.held([image])[0]["digest"]
        except (IndexError, ImageMissing):
            return ""


def _state(
    state: str,
    digest: str = "",
    progress: dict[str, int] | None = None,
    error: str = "",
    changed: bool = False,
) -> PullState:
    return PullState(
        state=state, digest=digest, progress=progress or {}, error=error, changed=changed
    )
