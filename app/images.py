"""The images a node holds, and pulling them, over the node's engine."""

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypedDict

import docker.errors

from app.allowlist import normalized
from app.engine import Engine, removal, translated
from app.errors import ImageMissing, PullFailed


class HeldImage(TypedDict):
    image: str
    digest: str
    pulled_at: str  # when the engine last tagged it (pulled or built), RFC 3339


class NodeImages:
    """Args: engine: the node's Docker engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def held(self, images: Iterable[str]) -> list[HeldImage]:
        """Which of `images` this node holds, with their digests."""
        found = []
        for image in images:
            try:
                with translated(f"inspect image {image}"):
                    attrs = self._engine.api.inspect_image(normalized(image))
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
        with translated(f"pull {image}"):
            try:
                for event in self._events(repository, tag):
                    if "error" in event:
                        raise PullFailed(str(event["error"]))
                    progress(event)
            except docker.errors.APIError as error:
                raise PullFailed(str(error.explanation or error)) from error

    def _events(self, repository: str, tag: str) -> Iterator[dict[str, Any]]:
        yield from self._engine.api.pull(repository, tag, stream=True, decode=True)

    def remove(self, image: str) -> bool:
        """Removes `image` (a name or an id); False if a container uses it or it is gone."""
        return removal(f"remove image {image}", self._engine.api.remove_image, image) == "removed"

    def all(self) -> list[dict[str, Any]]:
        """Every image on the node: id and repository tags."""
        with translated("list images"):
            found = self._engine.api.images()
        return [{"id": i["Id"], "tags": i.get("RepoTags") or []} for i in found]
