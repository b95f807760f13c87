"""Builds: a track's image made from its git repository by a builder worker, pushed to the
deployment's registry as `<registry>/greenbar-builds/<track>:git-<sha>`, its progress recorded
like a pull's (POST /builds, GET /builds/<id>). `PUT /tracks/<slug>` then deploys it.

The commit is read out of the repository on the builder (app/externals/git.py) and built by the
node's engine with no network in any step, each step's memory bounded, within
`build_seconds`; a build that passes its time is left, and says so.

Keys: greenbar:build:<id>  hash: track, git_reference, state, sha, image, error, log, times
"""

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from app.config import Settings
from app.errors import BuildFailed, EngineUnavailable, InvalidRequest, UnknownJob
from app.externals import clock, git, ids
from app.externals.engine import EngineDoor
from app.externals.store import Client, translated
from app.jobs.queues import BUILD_QUEUE, BUILD_TASK
from app.jobs.submission import Send

if TYPE_CHECKING:
    from app.wiring import Stores

LOG_LINES = 40  # the last lines of the build's output kept on its record
LABEL_BUILT_BY = "greenbar.built-by"  # on every image a build makes: the deployment


class BuildState(StrEnum):
    QUEUED = "queued"
    BUILDING = "building"
    PUSHING = "pushing"
    BUILT = "built"
    FAILED = "failed"


def sources(settings: Settings) -> dict[str, str]:
    """Each buildable track's repository, from GREENBAR_BUILD_SOURCES (`slug=path-or-url`)."""
    return dict(entry.split("=", 1) for entry in settings.build_sources)


def repository_of(registry: str, track: str) -> str:
    return f"{registry}/greenbar-builds/{track}"


@dataclass(frozen=True)
class BuildView:
    """A build as clients see it."""

    id: str
    track: str
    git_reference: str
    state: BuildState
    sha: str = ""
    image: str = ""
    error: str = ""
    log: tuple[str, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "id": self.id,
            "track": self.track,
            "git_reference": self.git_reference,
            "state": self.state.value,
            "log": list(self.log),
        }
        for name in ("sha", "image", "error"):
            if getattr(self, name):
                wire[name] = getattr(self, name)
        return wire


class BuildStore:
    """Build records in Redis. Args: client: Redis. ttl: a record's life after its last
    change. now: wall-clock seconds."""

    def __init__(self, client: Client, ttl: int, now: Callable[[], float] = clock.wall) -> None:
        self._redis = client
        self._ttl = ttl
        self._now = now

    def create(self, build_id: str, track: str, reference: str) -> None:
        self._write(build_id, track=track, git_reference=reference, state=BuildState.QUEUED)

    def update(self, build_id: str, **fields: str | list[str]) -> None:
        self._write(build_id, **fields)

    def start(self, build_id: str) -> bool:
        """Marks the build started; False if it was before (its builder died mid-way and the
        message came back): a build is never started twice."""
        with translated():
            started = self._redis.hsetnx(f"greenbar:build:{build_id}", "started_at", self._now())
        return bool(started)

    def _write(self, build_id: str, **fields: str | list[str]) -> None:
        encoded: dict[str | bytes, str | float] = {
            k: json.dumps(v) if isinstance(v, list) else v for k, v in fields.items()
        }
        encoded["updated_at"] = self._now()
        key = f"greenbar:build:{build_id}"
        with translated(), self._redis.pipeline() as pipe:
            pipe.hset(key, mapping=encoded)
            pipe.expire(key, self._ttl)
            pipe.execute()

    def get(self, build_id: str) -> BuildView:
        """Raises: UnknownJob: no such build (or it expired)."""
        with translated():
            raw = self._redis.hgetall(f"greenbar:build:{build_id}")
        if not raw:
            raise UnknownJob("build", build_id)
        found = {k.decode(): v.decode() for k, v in raw.items()}
        return BuildView(
            id=build_id,
            track=found.get("track", ""),
            git_reference=found.get("git_reference", ""),
            state=BuildState(found.get("state", BuildState.FAILED.value)),
            sha=found.get("sha", ""),
            image=found.get("image", ""),
            error=found.get("error", ""),
            log=tuple(json.loads(found.get("log", "[]"))),
        )


class Builds:
    """Starting builds (the API's side).

    Args:
        stores: greenbar's records (builds, admission).
        settings: the build sources and registry.
        send: hands a task to the broker.
    """

    def __init__(self, stores: "Stores", settings: Settings, send: Send) -> None:
        self._stores = stores
        self._sources = sources(settings)
        self._registry = settings.build_registry
        self._send = send

    def start(self, track: str, reference: str) -> BuildView:
        """Records a build of `track` at `reference` and sends it to the builders.

        Raises:
            InvalidRequest: builds are off, or the track has no configured source.
            Busy: the builds queue is full.
            ServiceUnavailable: the broker is unreachable.
        """
        if not self._registry:
            raise InvalidRequest("track", "builds are off: GREENBAR_BUILD_REGISTRY is not set")
        if track not in self._sources:
            known = ", ".join(sorted(self._sources)) or "none"
            raise InvalidRequest("track", f"must be a track with a build source ({known})")
        build_id = ids.token()
        builds = self._stores.builds
        with self._stores.admission.admitted(BUILD_QUEUE, "builds"):
            builds.create(build_id, track, reference)
            try:
                self._send(BUILD_TASK, [build_id], BUILD_QUEUE)
            except Exception as error:
                builds.update(build_id, state=BuildState.FAILED, error=f"not queued: {error}")
                raise
        return builds.get(build_id)


class Builder:
    """Carries out recorded builds on a builder worker.

    Args:
        builds: the build records.
        engine: this node's engine, which builds and pushes.
        settings: sources, registry, the deployment (labels) and a build's bounds.
        snapshot: reads a commit's tree out of a repository (app/externals/git.py).
        monotonic: for the build's deadline.
    """

    def __init__(
        self,
        builds: BuildStore,
        engine: EngineDoor,
        settings: Settings,
        snapshot: Callable[[str, str, int], git.Snapshot] = git.snapshot,
        monotonic: Callable[[], float] = clock.monotonic,
    ) -> None:
        self._builds = builds
        self._engine = engine
        self._settings = settings
        self._snapshot = snapshot
        self._monotonic = monotonic

    def build(self, build_id: str) -> BuildView:
        """Builds and pushes the recorded build; its record ends `built` or `failed`, never
        `building`."""
        view = self._builds.get(build_id)
        log: list[str] = []
        if not self._builds.start(build_id):
            why = "the builder carrying it out died; it is not built twice"
            self._builds.update(build_id, state=BuildState.FAILED, error=why)
            return self._builds.get(build_id)
        try:
            image = self._build(view, log)
        except (BuildFailed, EngineUnavailable) as error:  # the engine's 30 s read timeout too
            self._builds.update(build_id, state=BuildState.FAILED, error=str(error), log=log)
        except BaseException as error:  # a bug, a shutdown: the record still says so
            why = f"internal error: {type(error).__name__}: {error}"
            self._builds.update(build_id, state=BuildState.FAILED, error=why, log=log)
            raise
        else:
            self._builds.update(build_id, state=BuildState.BUILT, image=image, log=log)
        return self._builds.get(build_id)

    def _build(self, view: BuildView, log: list[str]) -> str:
        settings = self._settings
        source = sources(settings).get(view.track)
        if source is None:
            raise BuildFailed(f"track {view.track} has no build source on this builder")
        deadline = self._monotonic() + settings.build_seconds
        self._builds.update(view.id, state=BuildState.BUILDING)
        cap = settings.build_context_mib * 1024 * 1024
        snapshot = self._snapshot(source, view.git_reference, cap)
        repository = repository_of(settings.build_registry, view.track)
        tag = f"git-{snapshot.sha}"
        image = f"{repository}:{tag}"
        self._builds.update(view.id, sha=snapshot.sha, image=image)
        labels = {LABEL_BUILT_BY: settings.deployment, "greenbar.git-sha": snapshot.sha}
        events = self._engine.build_events(snapshot.tree, image, settings.build_memory_mib, labels)
        self._follow(events, deadline, log, "build")
        self._within_size(image)
        self._builds.update(view.id, state=BuildState.PUSHING, log=log)
        self._follow(self._engine.push_events(repository, tag), deadline, log, "push")
        return image

    def _within_size(self, image: str) -> None:
        """Raises BuildFailed, the image removed, when it holds more than build_image_mib."""
        cap = self._settings.build_image_mib
        size = int(self._engine.image(image).get("Size") or 0)
        if size > cap * 1024 * 1024:
            self._engine.remove_image(image)
            mib = size / (1024 * 1024)
            raise BuildFailed(
                f"the built image is {mib:.1f} MiB, over GREENBAR_BUILD_IMAGE_MIB={cap}"
            )

    def _follow(
        self, events: Iterable[dict[str, Any]], deadline: float, log: list[str], step: str
    ) -> None:
        """Reads a build or push stream to its end, keeping its last lines.

        Raises:
            BuildFailed: the stream reported an error, or the deadline passed.
        """
        for event in events:
            said = event.get("stream") or event.get("status") or ""
            if said.strip():
                log.append(said.rstrip("\n")[:500])
                del log[:-LOG_LINES]
            if "error" in event:
                raise BuildFailed(f"the {step} failed: {event['error']}")
            if self._monotonic() > deadline:
                raise BuildFailed(
                    f"the {step} ran past GREENBAR_BUILD_SECONDS={self._settings.build_seconds}"
                )
