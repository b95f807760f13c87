"""The images a node holds, and pulling them, over the node's engine."""

from collections.abc import Callable, Iterable
from typing import Any, TypedDict

from app.errors import ImageMissing, PullFailed
from app.externals.engine import EngineDoor
from app.images.allowlist import normalized


class HeldImage(TypedDict):
    image: str
    digest: str
    pulled_at: str  # when the engine last tagged it (pulled or built), RFC 3339


class NodeImages:
    """Args: engine: the node's Docker engine."""

    def __init__(self, engine: EngineDoor) -> None:
        self._engine = engine

    def held(self, images: Iterable[str]) -> list[HeldImage]:
        """Which of `images` this node holds, with their digests."""
        found = []
        for image in images:
            try:
                attrs = self._engine.image(normalized(image))
            except ImageMissing:
                continue
            tagged = attrs.get("Metadata", {}).get("LastTagTime") or attrs.get("Created", "")
            found.append(HeldImage(image=image, digest=attrs["Id"], pulled_at=tagged))
        return found

    def pull(self, image: str, progress: Callable[[dict[str, Any]], None]) -> None:
        """Pulls `image`, calling `progress` with each event of the engine's pull stream.

        Raises:
            PullFailed: the registry or the engine refused.
            EngineUnavailable: the engine did not answer.
        """
        repository, _, tag = normalized(image).rpartition(":")
        for event in self._engine.pull_events(repository, tag):
            if "error" in event:
                raise PullFailed(str(event["error"]))
            progress(event)

    def remove(self, image: str) -> bool:
        """Removes `image` (a name or an id); False if a container uses it or it is gone."""
        return self._engine.remove_image(image) == "removed"

    def all(self) -> list[dict[str, Any]]:
        """Every image on the node: id and repository tags."""
        return [{"id": i["Id"], "tags": i.get("RepoTags") or []} for i in self._engine.images()]
