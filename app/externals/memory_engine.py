"""An engine in memory, for tests of everything above the door: `EngineDoor`'s verbs over
images, containers and volumes held in dicts, with no Docker anywhere.

A started container plays its `Program` in a thread of its own, speaking on the attached
socket as dockerd does for an attach without a TTY: each write of the program's stdout (1)
or stderr (2) comes as an 8-byte header (stream type, three zero bytes, big-endian length)
and the payload; what the host sends is the program's stdin, recorded for tests. It passes
the contract dockerd passes (tests/contract/test_engine_contract.py).

Failures to inject: `down` (the engine answers nothing), and an image it does not hold.
"""

import contextlib
import io
import socket
import struct
import tarfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.errors import BuildFailed, EngineUnavailable, ImageMissing, PullFailed
from app.externals import clock, ids
from app.externals.archive import PathStat, refusal
from app.externals.engine import ContainerState, EngineDoor, ImageFile, LabelledContainer

FRAME = struct.Struct(">BxxxI")
STDOUT, STDERR = 1, 2
OOM_STATUS = 137  # 128 + SIGKILL: how a process the kernel killed for memory ends
DIRECTORY_MODE = 1 << 31  # Go's os.ModeDir, as the engine reports a path's mode
CHUNK_BYTES = 65536

Output = bytes | Callable[[bytes], bytes]  # fixed, or made from all the program read


@dataclass(frozen=True)
class Program:
    """What a container's main process does once started.

    Args:
        stdout, stderr: what it writes, fixed or made from all it read on stdin.
        exit_code: its status when it ends.
        reads_stdin: it reads stdin to its end before it writes (as the supervisor does); a
            container started before anyone attached waits for an attach.
        hangs: once it has written, it runs until the container is removed.
        oom_killed: the kernel kills it for memory once it has read: it writes nothing and
            ends with 137, `state().oom_killed`.
        oom_flag_late: `state()` reads that still miss the OOM flag after the exit, as dockerd
            under load records the kernel's event a moment after the container ends.
    """

    stdout: Output = b""
    stderr: Output = b""
    exit_code: int = 0
    reads_stdin: bool = True
    hangs: bool = False
    oom_killed: bool = False
    oom_flag_late: int = 0


@dataclass
class _Image:
    id: str
    tags: list[str]
    labels: dict[str, str]
    env: list[str]
    files: dict[str, bytes]
    created: float
    program: Program | None


@dataclass
class _Volume:
    labels: dict[str, str]
    options: dict[str, str]
    files: dict[str, tuple[bytes, int]] = field(default_factory=dict)


@dataclass
class _Container:
    id: str
    name: str
    image: _Image
    labels: dict[str, str]
    binds: dict[str, str]  # volume name -> where it is mounted
    created: float
    running: bool = False
    ended: bool = False  # it was started and its program has ended
    exit_code: int = 0
    oom_killed: bool = False
    oom_flag_late: int = 0  # state() reads left that miss the flag
    end: socket.socket | None = None  # the engine's end of the latest attach
    removed: threading.Event = field(default_factory=threading.Event)


def _tar_files(context: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(context)) as archive:
        return {
            m.name.removeprefix("./"): archive.extractfile(m).read()  # type: ignore[union-attr]
            for m in archive.getmembers()
            if m.isfile()
        }


def tagged(image: str) -> str:
    """`image` with the tag the engine assumes when it has none (`latest`)."""
    return image if ":" in image.rsplit("/", 1)[-1] else f"{image}:latest"


def _binds(spec: dict[str, Any]) -> dict[str, str]:
    binds = (spec.get("host_config") or {}).get("binds") or {}
    if isinstance(binds, list):
        binds = {b.split(":")[0]: {"bind": b.split(":")[1]} for b in binds}
    return {source: how["bind"] for source, how in binds.items() if not source.startswith("/")}


def _matches(labels: dict[str, str], wanted: str) -> bool:
    key, has_value, value = wanted.partition("=")
    return key in labels and (not has_value or labels[key] == value)


def _made(output: Output, stdin: bytes) -> bytes:
    return output(stdin) if callable(output) else output


class MemoryEngine:
    """A node's engine, in memory; see the module's docstring.

    Args:
        now: wall-clock seconds since the epoch, for when things were created.
    """

    def __init__(self, now: Callable[[], float] = clock.wall) -> None:
        self._now = now
        self._lock = threading.Condition()
        self._images: dict[str, _Image] = {}  # by id
        self._published: dict[str, dict[str, Any]] = {}  # a registry: tag -> add_image keywords
        self._containers: dict[str, _Container] = {}  # by name
        self._volumes: dict[str, _Volume] = {}
        self._programs: dict[str, Program] = {}  # by container name
        self._stdin: dict[str, bytes] = {}  # by the container's name when it read
        self.down = False  # when True every verb fails as an engine that does not answer

    # What tests set up and look at, beside the door.

    def add_image(
        self,
        image: str,
        *,
        labels: dict[str, str] | None = None,
        env: tuple[str, ...] = (),
        files: dict[str, bytes] | None = None,
        program: Program | None = None,
    ) -> str:
        """Holds `image` (a fresh id, as a new build or pull would give it); returns its id."""
        with self._lock:
            self._untag(tagged(image))
            made = _Image(
                f"sha256:{ids.token(32)}",
                [tagged(image)],
                dict(labels or {}),
                list(env),
                dict(files or {}),
                self._now(),
                program,
            )
            self._images[made.id] = made
            return made.id

    def publish(self, image: str, **keywords: Any) -> None:
        """Makes `image` pullable, with `add_image`'s keywords."""
        self._published[tagged(image)] = keywords

    def play(self, container: str, program: Program) -> None:
        """What a container started under the name `container` runs, rather than its image's
        program (`add_image`); with neither it reads its stdin and exits 0."""
        with self._lock:
            self._programs[container] = program

    def received(self, container: str) -> bytes:
        """All the container of this name (when it read) got on its stdin."""
        with self._lock:
            return self._stdin.get(container, b"")

    def volume_files(self, name: str) -> dict[str, tuple[bytes, int]]:
        with self._lock:
            return dict(self._volumes[name].files)

    def _answer(self, action: str) -> None:
        if self.down:
            raise EngineUnavailable(f"docker engine failed to {action}: it is down (in memory)")

    def _image(self, image: str) -> _Image:
        found = self._images.get(image) or next(
            (i for i in self._images.values() if tagged(image) in i.tags), None
        )
        if found is None:
            raise ImageMissing(f"No such image: {image}")
        return found

    def _container(self, ref: str) -> _Container | None:
        return self._containers.get(ref) or next(
            (c for c in self._containers.values() if c.id == ref), None
        )

    def _existing(self, ref: str, action: str) -> _Container:
        found = self._container(ref)
        if found is None:
            raise EngineUnavailable(f"docker engine failed to {action}: No such container: {ref}")
        return found

    def _untag(self, tag: str) -> None:
        for image in list(self._images.values()):
            if tag in image.tags:
                image.tags.remove(tag)
                if not image.tags and not self._used(image):
                    del self._images[image.id]

    def _used(self, image: _Image) -> bool:
        return any(c.image is image for c in self._containers.values())

    # The door: images.

    def ping(self) -> bool:
        return not self.down

    def image_id(self, image: str) -> str:
        self._answer(f"inspect image {image}")
        with self._lock:
            return self._image(image).id

    def image(self, image: str) -> dict[str, Any]:
        self._answer(f"inspect image {image}")
        with self._lock:
            found = self._image(image)
        made = datetime.fromtimestamp(found.created, UTC).isoformat().replace("+00:00", "Z")
        return {
            "Id": found.id,
            "RepoTags": list(found.tags),
            "Created": made,
            "Metadata": {"LastTagTime": made},
            "Config": {"Labels": dict(found.labels), "Env": list(found.env)},
            "Size": sum(len(content) for content in found.files.values()),
        }

    def images(self) -> list[dict[str, Any]]:
        self._answer("list images")
        with self._lock:
            return [
                {
                    "Id": i.id,
                    "RepoTags": list(i.tags),
                    "Created": int(i.created),
                    "Labels": dict(i.labels),
                }
                for i in self._images.values()
            ]

    def pull_events(self, repository: str, tag: str) -> Iterator[dict[str, Any]]:
        self._answer(f"pull {repository}:{tag}")
        image = f"{repository}:{tag}"
        if image not in self._published:
            raise PullFailed(f"pull access denied for {repository}, repository does not exist")
        yield {"status": f"Pulling from {repository}", "id": tag}
        made = self.add_image(image, **self._published[image])
        yield {"status": f"Digest: {made}"}
        yield {"status": f"Status: Downloaded newer image for {image}"}

    def build_events(
        self, context: bytes, image: str, memory_mib: int, labels: dict[str, str]
    ) -> Iterator[dict[str, Any]]:
        """Builds from a context holding a Dockerfile: the image holds the context's other
        files; a Dockerfile with a line `RUN false` fails as a failing step would."""
        self._answer(f"build {image}")
        files = _tar_files(context)
        dockerfile = files.pop("Dockerfile", None)
        if dockerfile is None:
            raise BuildFailed("Cannot locate specified Dockerfile: Dockerfile")
        for step, line in enumerate(dockerfile.decode().splitlines(), 1):
            yield {"stream": f"Step {step} : {line}\n"}
            if line.strip() == "RUN false":
                yield {"error": "The command '/bin/sh -c false' returned a non-zero code: 1"}
                return
        made = self.add_image(image, labels=labels, files={f"/{n}": c for n, c in files.items()})
        yield {"aux": {"ID": made}}
        yield {"stream": f"Successfully tagged {image}\n"}

    def push_events(self, repository: str, tag: str) -> Iterator[dict[str, Any]]:
        """Pushes to the stand-in's registry: what is pushed becomes pullable (`publish`)."""
        self._answer(f"push {repository}:{tag}")
        image = f"{repository}:{tag}"
        found = self._image(image)  # ImageMissing, as the engine's "tag does not exist"
        self._published[image] = {"labels": found.labels, "files": found.files}
        yield {"status": f"The push refers to repository [{repository}]"}
        yield {"status": f"{tag}: digest: sha256:{ids.token(32)} size: 528"}

    def pushed(self) -> list[str]:
        """What was pushed (or published), by reference."""
        return sorted(self._published)

    def remove_image(self, image: str) -> str:
        self._answer(f"remove image {image}")
        with self._lock:
            try:
                found = self._image(image)
            except ImageMissing:
                return "missing"
            if self._used(found):
                return "busy"
            del self._images[found.id]
            return "removed"

    def read_file(
        self, image_id: str, paths: tuple[str, ...], labels: dict[str, str], cap: int
    ) -> ImageFile | None:
        self._answer(f"read {', '.join(paths)} from image {image_id}")
        with self._lock:
            files = self._image(image_id).files
        for path in paths:
            if path in files:
                stat = PathStat(len(files[path]), 0o644, "")
            elif any(name.startswith(path.rstrip("/") + "/") for name in files):
                stat = PathStat(0, DIRECTORY_MODE | 0o755, "")
            else:
                continue
            why = refusal(stat, path, cap)
            return ImageFile(path, problem=why) if why else ImageFile(path, content=files[path])
        return None

    # The door: containers.

    def create(self, spec: dict[str, Any]) -> str:
        self._answer("create a container")
        with self._lock:
            image = self._image(spec["image"])
            name = spec.get("name") or f"memory-{ids.token(6)}"
            if name in self._containers:
                raise EngineUnavailable(
                    f"docker engine failed to create a container: {name} is in use (409 Conflict)"
                )
            binds = _binds(spec)
            for volume in binds:  # the engine makes a named volume a container names
                self._volumes.setdefault(volume, _Volume({}, {}))
            labels = {**image.labels, **(spec.get("labels") or {})}  # the image's are inherited
            made = _Container(ids.token(32), name, image, labels, binds, self._now())
            self._containers[name] = made
            return made.id

    def ensure_running(self, spec: dict[str, Any]) -> None:
        self._answer(f"keep container {spec['name']} running")
        with self._lock:
            if self._container(spec["name"]) is None:
                self.create(spec)
            self.start(spec["name"])

    def attach(self, container: str) -> socket.socket:
        self._answer("attach to a container")
        host, end = socket.socketpair()
        with self._lock:
            found = self._existing(container, "attach to a container")
            if found.ended:
                end.shutdown(socket.SHUT_WR)  # it ended already: nothing more comes
            found.end = end
            self._lock.notify_all()
        return host

    def start(self, container: str) -> None:
        self._answer("start a container")
        with self._lock:
            found = self._existing(container, "start a container")
            if found.running:
                return
            found.running, found.ended, found.exit_code, found.oom_killed = True, False, 0, False
            program = self._programs.get(found.name) or found.image.program or Program()
        threading.Thread(target=self._play, args=(found, program), daemon=True).start()

    def rename(self, container: str, name: str) -> None:
        self._answer("rename a container")
        with self._lock:
            found = self._existing(container, "rename a container")
            if name in self._containers:
                raise EngineUnavailable(
                    f"docker engine failed to rename a container: {name} is in use (409 Conflict)"
                )
            del self._containers[found.name]
            found.name = name
            self._containers[name] = found

    def exit_code(self, container: str) -> int | None:
        self._answer("inspect a container")
        with self._lock:
            found = self._existing(container, "inspect a container")
            return None if found.running else found.exit_code

    def state(self, container: str) -> ContainerState | None:
        self._answer("inspect a container")
        with self._lock:
            found = self._container(container)
            if found is None:
                return None
            flagged = found.oom_killed and found.oom_flag_late <= 0
            if found.oom_killed and not flagged:
                found.oom_flag_late -= 1
            return ContainerState(found.running, found.exit_code, flagged)

    def remove(self, container: str) -> None:
        self._answer(f"remove container {container}")
        with self._lock:
            found = self._container(container)
            if found is None:
                return
            del self._containers[found.name]
            found.removed.set()
            found.running = False
            if found.end is not None:
                with contextlib.suppress(OSError):  # wakes the program's thread
                    found.end.shutdown(socket.SHUT_RDWR)
            self._lock.notify_all()

    def mount_source(self, container: str, destination: str) -> str | None:
        """Where the volume at `destination` would live on a host (nothing is there)."""
        self._answer("inspect a container")
        with self._lock:
            found = self._existing(container, "inspect a container")
        names = [v for v, at in found.binds.items() if at == destination]
        return f"/var/lib/docker/volumes/{names[0]}/_data" if names else None

    def labelled(self, label: str) -> list[LabelledContainer]:
        self._answer("list containers")
        with self._lock:
            return [
                LabelledContainer(c.name, c.created, dict(c.labels))
                for c in self._containers.values()
                if _matches(c.labels, label)
            ]

    def users_of(self, volume: str) -> list[tuple[dict[str, str], bool]]:
        self._answer("list containers")
        with self._lock:
            return [
                (dict(c.labels), c.running) for c in self._containers.values() if volume in c.binds
            ]

    # The door: volumes.

    def create_volume(
        self, name: str, labels: dict[str, str], options: dict[str, str] | None = None
    ) -> dict[str, str]:
        self._answer(f"create volume {name}")
        with self._lock:
            made = self._volumes.setdefault(name, _Volume(dict(labels), dict(options or {})))
            return dict(made.labels)

    def volume_labels(self, name: str) -> dict[str, str] | None:
        self._answer(f"inspect volume {name}")
        with self._lock:
            found = self._volumes.get(name)
            return None if found is None else dict(found.labels)

    def volumes(self, labels: list[str]) -> list[tuple[str, dict[str, str]]]:
        self._answer("list volumes")
        with self._lock:
            return [
                (name, dict(v.labels))
                for name, v in self._volumes.items()
                if all(_matches(v.labels, wanted) for wanted in labels)
            ]

    def remove_volume(self, name: str) -> str:
        self._answer(f"remove volume {name}")
        with self._lock:
            if name not in self._volumes:
                return "missing"
            if any(name in c.binds for c in self._containers.values()):
                return "busy"
            del self._volumes[name]
            return "removed"

    def load_volume(
        self,
        name: str,
        image_id: str,
        files: dict[str, tuple[bytes, int]],
        marker: str,
        labels: dict[str, str],
    ) -> bool:
        self._answer(f"load volume {name}")
        with self._lock:
            self._image(image_id)
            volume = self._volumes.setdefault(name, _Volume({}, {}))
            if marker in volume.files:
                return False
            volume.files.update(files)
            return True

    # A started container's program, in a thread of its own.

    def _play(self, container: _Container, program: Program) -> None:
        stdin = b""
        if program.reads_stdin:
            stdin = self._read_stdin(container)
        if program.oom_killed:
            container.oom_flag_late = program.oom_flag_late
            self._end(container, OOM_STATUS, oom_killed=True)
            return
        for stream, output in ((STDOUT, program.stdout), (STDERR, program.stderr)):
            self._write(container, stream, _made(output, stdin))
        if program.hangs:
            container.removed.wait()
        self._end(container, program.exit_code)

    def _read_stdin(self, container: _Container) -> bytes:
        """All the host sends until it shuts its side (or the container goes)."""
        with self._lock:
            self._lock.wait_for(lambda: container.end is not None or container.removed.is_set())
            end = container.end
        received = bytearray()
        while end is not None and (chunk := _received(end)):
            received += chunk
        with self._lock:
            self._stdin[container.name] = bytes(received)
        return bytes(received)

    def _write(self, container: _Container, stream: int, payload: bytes) -> None:
        end = container.end
        if end is None or not payload:
            return  # nobody attached: the output is lost, as with log driver `none`
        with contextlib.suppress(OSError):  # the host closed its side: it reads no more
            end.sendall(FRAME.pack(stream, len(payload)) + payload)

    def _end(self, container: _Container, code: int, oom_killed: bool = False) -> None:
        """The program ends: its state first, then the end of its output (as the host reads
        them in that order). Like dockerd, whatever the host still sends is read and dropped,
        so the host never sees its own unread bytes reset the connection."""
        with self._lock:
            end, removed = container.end, container.removed.is_set()
            if not removed:
                container.running, container.ended, container.exit_code = False, True, code
                container.oom_killed = oom_killed
        if end is None:
            return
        with contextlib.suppress(OSError):
            if not removed:
                end.shutdown(socket.SHUT_WR)
            while _received(end):
                pass
        end.close()


def _received(end: socket.socket) -> bytes:
    try:
        return end.recv(CHUNK_BYTES)
    except OSError:
        return b""


_IS_A_DOOR: type[EngineDoor] = MemoryEngine  # mypy checks that it has every verb
