"""The one wrapper around a node's Docker engine; Docker's exceptions stop here.

Only the calls greenbar needs, over docker-py's low-level `APIClient`. Never the archive API
(`docker cp`) on a container running untrusted code: files travel on stdin and stdout. The
archive API reads only from created, never started containers, with bounds
(`app.externals.archive`).
"""

import io
import socket
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import docker
import docker.errors
import requests

from app.errors import BuildFailed, EngineUnavailable, ImageMissing, PullFailed
from app.externals.archive import PathStat, Unreadable, member, refusal

API_TIMEOUT_SECONDS = 30
READ_SECONDS = 5.0  # the most reading one file from an image may take, stat included
LINK_HOPS = 4  # symbolic links followed from a path, at most
CHUNK_BYTES = 65536


@dataclass(frozen=True)
class LabelledContainer:
    name: str
    created: float  # seconds since the epoch
    labels: dict[str, str]


@dataclass(frozen=True)
class ContainerState:
    running: bool
    exit_code: int
    oom_killed: bool  # the kernel killed a process of it for using more than its memory limit


@dataclass(frozen=True)
class ImageFile:
    """What an image holds at `path`: its `content`, or the `problem` that kept it unread."""

    path: str
    content: bytes = b""
    problem: str = ""


class EngineDoor(Protocol):
    """The complete list of what greenbar asks of a node's engine: `Engine` says it to
    dockerd, `app.externals.memory_engine.MemoryEngine` plays it in memory for tests. Both
    pass `tests/contract/test_engine_contract.py`; `Engine` documents each verb."""

    def ping(self) -> bool: ...
    def image_id(self, image: str) -> str: ...
    def image(self, image: str) -> dict[str, Any]: ...
    def images(self) -> list[dict[str, Any]]: ...
    def pull_events(self, repository: str, tag: str) -> Iterator[dict[str, Any]]: ...
    def build_events(
        self, context: bytes, image: str, memory_mib: int, labels: dict[str, str]
    ) -> Iterator[dict[str, Any]]: ...
    def push_events(self, repository: str, tag: str) -> Iterator[dict[str, Any]]: ...
    def remove_image(self, image: str) -> str: ...
    def create(self, spec: dict[str, Any]) -> str: ...
    def ensure_running(self, spec: dict[str, Any]) -> None: ...
    def users_of(self, volume: str) -> list[tuple[dict[str, str], bool]]: ...
    def volumes(self, labels: list[str]) -> list[tuple[str, dict[str, str]]]: ...
    def attach(self, container: str) -> socket.socket: ...
    def mount_source(self, container: str, destination: str) -> str | None: ...
    def rename(self, container: str, name: str) -> None: ...
    def start(self, container: str) -> None: ...
    def exit_code(self, container: str) -> int | None: ...
    def remove(self, container: str) -> None: ...
    def state(self, container: str) -> ContainerState | None: ...
    def read_file(
        self, image_id: str, paths: tuple[str, ...], labels: dict[str, str], cap: int
    ) -> ImageFile | None: ...
    def create_volume(
        self, name: str, labels: dict[str, str], options: dict[str, str] | None = None
    ) -> dict[str, str]: ...
    def volume_labels(self, name: str) -> dict[str, str] | None: ...
    def remove_volume(self, name: str) -> str: ...
    def load_volume(
        self,
        name: str,
        image_id: str,
        files: dict[str, tuple[bytes, int]],
        marker: str,
        labels: dict[str, str],
    ) -> bool: ...
    def labelled(self, label: str) -> list[LabelledContainer]: ...


def _bounded(raw: Any, deadline: float) -> Callable[[int], bytes]:
    """`read(n)` over a response body: n bytes (fewer only at its end), until `deadline`."""

    def read(size: int) -> bytes:
        out = bytearray()
        while len(out) < size:
            if time.monotonic() > deadline:
                raise Unreadable(f"reading it took longer than {READ_SECONDS} s")
            chunk = raw.read(min(size - len(out), CHUNK_BYTES))
            if not chunk:
                break
            out += chunk
        return bytes(out)

    return read


def tar_of(files: dict[str, tuple[bytes, int]]) -> bytes:
    """An uncompressed tar of regular files owned by root, in the order given."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, (content, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(content), mode
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


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
        self._api = api

    @classmethod
    def from_env(cls) -> "Engine":
        with translated("connect"):
            client = docker.from_env(timeout=API_TIMEOUT_SECONDS)
        return cls(client.api)

    def ping(self) -> bool:
        try:
            with translated("ping"):
                return bool(self._api.ping())
        except EngineUnavailable:
            return False

    def image_id(self, image: str) -> str:
        """The content-addressed id (sha256:…) of `image` on this node.

        Raises:
            ImageMissing: the node does not hold it.
        """
        with translated(f"inspect image {image}"):
            return str(self._api.inspect_image(image)["Id"])

    def image(self, image: str) -> dict[str, Any]:
        """What the engine says of `image`: its `Id`, `Created`, `Metadata` and the rest.

        Raises:
            ImageMissing: the node does not hold it.
        """
        with translated(f"inspect image {image}"):
            return dict(self._api.inspect_image(image))

    def images(self) -> list[dict[str, Any]]:
        """Every image on the node, as the engine lists them (`Id`, `RepoTags`, ...)."""
        with translated("list images"):
            return list(self._api.images())

    def pull_events(self, repository: str, tag: str) -> Iterator[dict[str, Any]]:
        """The engine's pull stream of `repository:tag`, one decoded event at a time.

        Raises:
            PullFailed: the registry or the engine refused.
            EngineUnavailable: the engine did not answer.
        """
        with translated(f"pull {repository}:{tag}"):
            try:
                yield from self._api.pull(repository, tag, stream=True, decode=True)
            except docker.errors.APIError as error:
                raise PullFailed(str(error.explanation or error)) from error

    def build_events(
        self, context: bytes, image: str, memory_mib: int, labels: dict[str, str]
    ) -> Iterator[dict[str, Any]]:
        """The engine's build stream of the tar `context` (its Dockerfile at the top), tagged
        `image`: no network in any step, each step's memory bounded, every intermediate
        container removed; one decoded event at a time.

        Raises:
            BuildFailed: the engine refused the build (the stream's own errors are events).
            EngineUnavailable: the engine did not answer.
        """
        memory = memory_mib * 1024 * 1024
        with translated(f"build {image}"):
            try:
                yield from self._api.build(
                    fileobj=io.BytesIO(context),
                    custom_context=True,
                    tag=image,
                    rm=True,
                    forcerm=True,
                    pull=False,
                    network_mode="none",
                    container_limits={"memory": memory, "memswap": memory},
                    labels=labels,
                    decode=True,
                )
            except docker.errors.APIError as error:
                raise BuildFailed(str(error.explanation or error)) from error

    def push_events(self, repository: str, tag: str) -> Iterator[dict[str, Any]]:
        """The engine's push stream of `repository:tag` to its registry, one decoded event at
        a time.

        Raises:
            BuildFailed: the engine refused the push (the registry's own errors are events).
            EngineUnavailable: the engine did not answer.
        """
        with translated(f"push {repository}:{tag}"):
            try:
                yield from self._api.push(repository, tag, stream=True, decode=True)
            except docker.errors.APIError as error:
                raise BuildFailed(str(error.explanation or error)) from error

    def remove_image(self, image: str) -> str:
        """Removes `image`: `removed`, `busy` (a container uses it) or `missing` (see `removal`)."""
        return removal(f"remove image {image}", self._api.remove_image, image)

    def create(self, spec: dict[str, Any]) -> str:
        """Creates a container from `create_container` keywords, `host_config` as a dict."""
        with translated("create a container"):
            host = self._api.create_host_config(**spec["host_config"])
            return str(self._api.create_container(**{**spec, "host_config": host})["Id"])

    def ensure_running(self, spec: dict[str, Any]) -> None:
        """Creates the container `spec` names unless it exists, and starts it unless it runs;
        another process doing the same at the same moment is fine."""
        name = spec["name"]
        with translated(f"keep container {name} running"):
            try:
                self.create(spec)
            except EngineUnavailable as error:
                if not isinstance(error.__cause__, docker.errors.APIError) or (
                    error.__cause__.status_code != 409  # 409: it exists already
                ):
                    raise
            if self.exit_code(name) is not None:
                try:
                    self._api.start(name)
                except docker.errors.APIError:
                    if self.exit_code(name) is not None:  # not started by another either
                        raise

    def users_of(self, volume: str) -> list[tuple[dict[str, str], bool]]:
        """Each container mounting `volume`: its labels and whether it is running."""
        with translated("list containers"):
            found = self._api.containers(all=True, filters={"volume": volume})
        return [(c.get("Labels") or {}, c.get("State") == "running") for c in found]

    def volumes(self, labels: list[str]) -> list[tuple[str, dict[str, str]]]:
        """Every volume carrying all of `labels` (`key` or `key=value`): name and labels."""
        with translated("list volumes"):
            found = self._api.volumes(filters={"label": labels})
        return [(v["Name"], v.get("Labels") or {}) for v in found.get("Volumes") or []]

    def attach(self, container: str) -> socket.socket:
        """A raw socket on the container's stdin, stdout and stderr; call before `start`."""
        params = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
        with translated("attach to a container"):
            io = self._api.attach_socket(container, params=params)
        # docker-py hands back a SocketIO over a unix socket; we need the socket itself
        # to half-close our side once the input tar is sent.
        return getattr(io, "_sock", io)  # type: ignore[no-any-return]

    def mount_source(self, container: str, destination: str) -> str | None:
        """Where the volume mounted at `destination` in `container` lives on the engine's host
        (its Mountpoint), or None when nothing is mounted there."""
        with translated("inspect a container"):
            mounts = self._api.inspect_container(container).get("Mounts") or []
        found = [m.get("Source") for m in mounts if m.get("Destination") == destination]
        return str(found[0]) if found and found[0] else None

    def rename(self, container: str, name: str) -> None:
        with translated("rename a container"):
            self._api.rename(container, name)

    def start(self, container: str) -> None:
        with translated("start a container"):
            self._api.start(container)

    def exit_code(self, container: str) -> int | None:
        with translated("inspect a container"):
            state = self._api.inspect_container(container)["State"]
        return None if state.get("Running") else int(state.get("ExitCode", -1))

    def remove(self, container: str) -> None:
        """Kills (if running) and removes `container`; one already gone, or being removed
        elsewhere, is fine."""
        action = f"remove container {container}"
        removal(action, lambda: self._api.remove_container(container, force=True, v=True))

    def state(self, container: str) -> ContainerState | None:
        """How `container` is, or None if it is gone."""
        with translated("inspect a container"):
            try:
                state = self._api.inspect_container(container)["State"]
            except docker.errors.NotFound:
                return None
        running, code = bool(state.get("Running")), int(state.get("ExitCode", -1))
        return ContainerState(running, code, bool(state.get("OOMKilled")))

    def read_file(
        self, image_id: str, paths: tuple[str, ...], labels: dict[str, str], cap: int
    ) -> ImageFile | None:
        """The first of `paths` that the image holds anything at, or None if it holds none.

        Only a regular file (found directly or through a few symbolic links) of at most `cap`
        bytes is read; anything else there is an ImageFile with a `problem`. The container is
        created, never started, so no code of the image runs; it is removed before returning.
        """
        with translated(f"read {', '.join(paths)} from image {image_id}"):
            container = self._api.create_container(image_id, command=["true"], labels=labels)["Id"]
            try:
                for path in paths:
                    found = self._read(container, path, cap, time.monotonic() + READ_SECONDS)
                    if found is not None:
                        return found
                return None
            finally:
                self.remove(container)

    def _read(self, container: str, path: str, cap: int, deadline: float) -> ImageFile | None:
        try:
            target, stat = self._resolved(container, path)
            if stat is None:  # nothing there (or a link to nothing)
                return None
            if stat.is_link:
                why = f"{path} is a chain of more than {LINK_HOPS} symbolic links"
                return ImageFile(path, problem=why)
            why = refusal(stat, path, cap)
            if why:
                return ImageFile(path, problem=why)
            return ImageFile(path, content=self._member(container, target, cap, deadline))
        except Unreadable as error:
            return ImageFile(path, problem=f"{path} could not be read: {error}")

    def _resolved(self, container: str, path: str) -> tuple[str, PathStat | None]:
        """The path a few symbolic links from `path` lead to, and its stat."""
        target, stat = path, self._stat(container, path)
        for _ in range(LINK_HOPS):
            if stat is None or not stat.is_link:
                break
            target = stat.link_target
            stat = self._stat(container, target)
        return target, stat

    def _archive_url(self, container: str) -> str:
        return str(self._api._url("/containers/{0}/archive", container))

    def _stat(self, container: str, path: str) -> PathStat | None:
        """The path's stat header alone (HEAD): nothing is sent, whatever is there."""
        url, params = self._archive_url(container), {"path": path}
        response = self._api.head(url, params=params, timeout=READ_SECONDS)
        if response.status_code == 404:
            return None
        if response.status_code >= 400:  # on a created container: the path's fault (a loop)
            said = f"{response.status_code} {response.reason}"
            raise Unreadable(f"the engine could not look at it ({said}: a symbolic link loop?)")
        return PathStat.decode(response.headers.get("X-Docker-Container-Path-Stat", ""))

    def _member(self, container: str, path: str, cap: int, deadline: float) -> bytes:
        url, params = self._archive_url(container), {"path": path}
        # Uncompressed: the engine gzips for a client that accepts it, and a small gzip can
        # inflate to anything.
        headers = {"Accept-Encoding": "identity"}
        with self._api.get(
            url, params=params, headers=headers, stream=True, timeout=READ_SECONDS
        ) as response:
            response.raise_for_status()
            if response.headers.get("Content-Encoding", "identity") != "identity":
                raise Unreadable("the engine sent it compressed")
            return member(_bounded(response.raw, deadline), cap)

    def create_volume(
        self, name: str, labels: dict[str, str], options: dict[str, str] | None = None
    ) -> dict[str, str]:
        """Creates volume `name` (local driver) unless it exists; returns the labels it has,
        which are the first creator's when it existed already."""
        with translated(f"create volume {name}"):
            made = self._api.create_volume(name, driver="local", driver_opts=options, labels=labels)
        return dict(made.get("Labels") or {})

    def volume_labels(self, name: str) -> dict[str, str] | None:
        """The labels of volume `name`, or None when there is no such volume."""
        with translated(f"inspect volume {name}"):
            try:
                found = self._api.inspect_volume(name)
            except docker.errors.NotFound:
                return None
        return dict(found.get("Labels") or {})

    def remove_volume(self, name: str) -> str:
        """Removes volume `name`: `removed`, `missing`, or `busy` when a container uses it."""
        return removal(f"remove volume {name}", self._api.remove_volume, name)

    def load_volume(
        self,
        name: str,
        image_id: str,
        files: dict[str, tuple[bytes, int]],
        marker: str,
        labels: dict[str, str],
    ) -> bool:
        """Writes `files` (name → content and mode) into volume `name` unless it holds
        `marker` already; returns whether it wrote. The files go through a container of
        `image_id` that is created, never started, so no code runs.

        Tar members are extracted in order: list the marker last, and its presence says
        every file before it is complete.
        """
        mount = {name: {"bind": "/load", "mode": "rw"}}
        with translated(f"load volume {name}"):
            host = self._api.create_host_config(
                binds=mount, network_mode="none", log_config={"type": "none"}
            )
            created = self._api.create_container(
                image_id, command=["true"], labels=labels, host_config=host, network_disabled=True
            )
            try:
                if self._stat(created["Id"], f"/load/{marker}") is not None:
                    return False
                self._api.put_archive(created["Id"], "/load", tar_of(files))
                return True
            finally:
                self.remove(created["Id"])

    def labelled(self, label: str) -> list[LabelledContainer]:
        """Every container, running or not, carrying `label` (`key` or `key=value`)."""
        with translated("list containers"):
            found = self._api.containers(all=True, filters={"label": label})
        return [
            LabelledContainer(c["Names"][0].lstrip("/"), float(c["Created"]), c["Labels"])
            for c in found
        ]
