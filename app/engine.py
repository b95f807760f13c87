"""The one wrapper around a node's Docker engine; Docker's exceptions stop here.

Only the calls greenbar needs, over docker-py's low-level `APIClient`. Never the archive API
(`docker cp`) on a container running untrusted code: files travel on stdin and stdout.
"""

import io
import socket
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
import requests

from app.errors import EngineUnavailable, ImageMissing

API_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class LabelledContainer:
    name: str
    created: float  # seconds since the epoch
    labels: dict[str, str]


def _only_member(api: docker.APIClient, container: str, path: str) -> bytes | None:
    try:
        chunks, _ = api.get_archive(container, path)
    except docker.errors.NotFound:
        return None
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        member = tar.next()
        source = tar.extractfile(member) if member is not None and member.isreg() else None
        return source.read() if source is not None else None


def removal(action: str, remove: Callable[..., object], *args: object) -> str:
    """Calls a Docker removal, telling how it went rather than raising for the expected.

    Returns:
        `removed`; `missing` if it was gone already; `busy` if the engine said conflict (in
        use, or being removed elsewhere).

    Raises:
        EngineUnavailable: any other failure.
    """
    with translated(action):
        try:
            remove(*args)
        except docker.errors.NotFound:
            return "missing"
        except docker.errors.APIError as error:
            if error.status_code == 409:
                return "busy"
            raise
    return "removed"


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Turns Docker's exceptions inside the block into ImageMissing or EngineUnavailable."""
    try:
        yield
    except docker.errors.ImageNotFound as error:
        raise ImageMissing(str(error.explanation or error)) from error
    except (docker.errors.DockerException, requests.RequestException, OSError) as error:
        raise EngineUnavailable(f"docker engine failed to {action}: {error}") from error


class Engine:
    """A node's Docker engine.

    Args:
        api: a docker-py low-level client; `Engine.from_env()` makes one from DOCKER_HOST.
    """

    def __init__(self, api: docker.APIClient) -> None:
        self.api = api

    @classmethod
    def from_env(cls) -> "Engine":
        with translated("connect"):
            client = docker.from_env(timeout=API_TIMEOUT_SECONDS)
        return cls(client.api)

    def ping(self) -> bool:
        try:
            with translated("ping"):
                return bool(self.api.ping())
        except EngineUnavailable:
            return False

    def image_id(self, image: str) -> str:
        """The content-addressed id (sha256:…) of `image` on this node.

        Raises:
            ImageMissing: the node does not hold it.
        """
        with translated(f"inspect image {image}"):
            return str(self.api.inspect_image(image)["Id"])

    def create(self, spec: dict[str, Any]) -> str:
        """Creates a container from `create_container` keywords, `host_config` as a dict."""
        with translated("create a container"):
            host = self.api.create_host_config(**spec["host_config"])
            return str(self.api.create_container(**{**spec, "host_config": host})["Id"])

    def attach(self, container: str) -> socket.socket:
        """A raw socket on the container's stdin, stdout and stderr; call before `start`."""
        params = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
        with translated("attach to a container"):
            io = self.api.attach_socket(container, params=params)
        # docker-py hands back a SocketIO over a unix socket; we need the socket itself
        # to half-close our side once the input tar is sent.
        return getattr(io, "_sock", io)  # type: ignore[no-any-return]

    def rename(self, container: str, name: str) -> None:
        with translated("rename a container"):
            self.api.rename(container, name)

    def start(self, container: str) -> None:
        with translated("start a container"):
            self.api.start(container)

    def exit_code(self, container: str) -> int | None:
        with translated("inspect a container"):
            state = self.api.inspect_container(container)["State"]
        return None if state.get("Running") else int(state.get("ExitCode", -1))

    def remove(self, container: str) -> None:
        """Kills (if running) and removes `container`; one already gone, or being removed
        elsewhere, is fine."""
        action = f"remove container {container}"
        removal(action, lambda: self.api.remove_container(container, force=True, v=True))

    def read_file(self, image_id: str, path: str, labels: dict[str, str]) -> bytes | None:
        """The bytes of one file in an image, or None if the image has no such regular file.

        The container is created, never started, so no code of the image runs; the archive
        API is safe on it. It is removed before returning.
        """
        with translated(f"read {path} from image {image_id}"):
            container = self.api.create_container(image_id, command=["true"], labels=labels)["Id"]
            try:
                return _only_member(self.api, container, path)
            finally:
                self.remove(container)

    def labelled(self, label: str) -> list[LabelledContainer]:
        """Every container, running or not, carrying `label` (`key` or `key=value`)."""
        with translated("list containers"):
            found = self.api.containers(all=True, filters={"label": label})
        return [
            LabelledContainer(c["Names"][0].lstrip("/"), float(c["Created"]), c["Labels"])
            for c in found
        ]
