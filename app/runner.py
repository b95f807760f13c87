"""The runner: one fresh hardened container per run, files in on stdin, a tar out on stdout."""

import hashlib
import logging
import re
import secrets
import socket
import time
from collections.abc import Callable, Collection, Mapping
from enum import StrEnum
from typing import TypedDict

from app import sandbox
from app.config import Settings
from app.engine import Engine
from app.errors import EngineUnavailable, ImageMissing
from app.files import DELETE_LIST, encoded, tar_of
from app.harvest import Harvest, Harvester, SandboxFile
from app.pool import WarmPool
from app.stream import CapExceeded, DeadlinePassed, OutputStream
from app.text import Text, cleaned

# The entry script kills cyber-dojo.sh at max_seconds and then needs a moment to write its
# tar; the host waits this much longer before it kills the container itself.
HOST_GRACE_SECONDS = 1.0
log = logging.getLogger(__name__)
KILLED_STATUS = 137  # 128 + SIGKILL, what a shell reports for a killed command
OOM_KILLS = re.compile(rb"^oom_kill (\d+)$", re.MULTILINE)


class Outcome(StrEnum):
    COMPLETED = "completed"
    TIMED_OUT = "timed_out"
    FAULTY = "faulty"
    PULLING = "pulling"  # the image is not on the node: nothing ran


class RunResult(TypedDict):
    outcome: str
    stdout: Text
    stderr: Text
    status: int
    created: dict[str, Text]
    changed: dict[str, Text]
    log: str
    duration_ms: int
    image: str
    digest: str
    node: str
    sandbox_kib: int  # what /sandbox held after the run
    warm: bool  # it ran in a warm container (started before the run came)


class Runner:
    """Runs a learner's files in a hardened container on one node.

    Args:
        engine: the node's Docker engine.
        settings: limits and container settings.
        clock: monotonic seconds, for deadlines and durations.
        now: wall-clock seconds since the epoch, for file times.
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], float] = time.time,
        pool: WarmPool | None = None,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._clock = clock
        self._now = now
        self._pool = pool
        # Containers to remove once the result is recorded: not on the path to the result.
        self._leftovers: list[str] = []

    def run(
        self,
        image: str,
        files: Mapping[str, str],
        max_seconds: int,
        run_id: str,
        *,
        volume: str | None = None,
        deleted: Collection[str] = (),
    ) -> RunResult:
        """Runs `files`' cyber-dojo.sh in a new container of `image`.

        Args:
            image: an image name on this node.
            files: validated relative names to text (see `app.files.validate`).
            max_seconds: wall-clock limit from the container's start.
            run_id: names the container; one run id never gets two containers.
            volume: a kata volume for /sandbox instead of a fresh tmpfs.
            deleted: names to remove from the volume first (no longer sent by the client).

        Returns:
            The result; expected failures (timeout, a missing image) are outcomes, not raises.

        Raises:
            EngineUnavailable: the Docker engine failed.
        """
        started = self._clock()
        report = _Report(self._settings, image, max_seconds, started, self._clock)
        try:
            report.digest = self._engine.image_id(image)
        except ImageMissing:
            return report.pulling()
        payload = {**files, DELETE_LIST: "".join(f"{n}\n" for n in deleted)} if deleted else files
        report.nonce = secrets.token_hex(16)
        feed = f"{max_seconds} {report.nonce}\n".encode() + tar_of(payload, int(self._now()))
        name = sandbox.container_name(run_id)
        sock = self._warm(report.digest, name) if volume is None else None
        fresh = sock is None
        if sock is None:
            labels = sandbox.run_labels(self._settings, run_id)
            self._engine.create(sandbox.spec(self._settings, report.digest, name, labels, volume))
            sock = self._engine.attach(name)
        report.warm = not fresh
        try:
            return self._feed_and_read(name, sock, files, feed, report, fresh)
        finally:
            self._leftovers.append(name)

    def _warm(self, digest: str, name: str) -> socket.socket | None:
        """A warm container of `digest`, renamed `name` and attached, or None."""
        taken = self._pool.take(digest) if self._pool is not None else None
        if taken is None:
            return None
        try:
            self._engine.rename(taken, name)
            if self._engine.exit_code(name) is None:  # still waiting for its input
                return self._engine.attach(name)
        except EngineUnavailable:
            pass
        # It died waiting (an engine restart): gone now, under either name, so a fresh
        # container can take the run's name.
        for either in (name, taken):
            self._engine.remove(either)
        return None

    def dispose(self) -> None:
        """Removes the containers of the runs finished since the last call. Called once their
        results are recorded, so removal costs the client nothing; a worker dying before it
        leaves them to the reaper."""
        while self._leftovers:
            name = self._leftovers.pop()
            try:
                self._engine.remove(name)
            except EngineUnavailable as error:  # the reaper removes it later
                log.warning("could not remove %s: %s", name, error)

    def remove(self, run_id: str) -> None:
        """Removes the container of `run_id`, if one is left (a dead worker's)."""
        self._engine.remove(sandbox.container_name(run_id))

    def _feed_and_read(
        self,
        name: str,
        sock: socket.socket,
        files: Mapping[str, str],
        payload: bytes,
        report: "_Report",
        fresh: bool,
    ) -> RunResult:
        max_seconds = report.max_seconds
        try:
            if fresh:  # a warm container is running already, waiting for its input
                self._engine.start(name)
            deadline = self._clock() + max_seconds + HOST_GRACE_SECONDS
            stream = OutputStream(
                sock, deadline, self._settings.read_cap_mib * 1024 * 1024, self._clock
            )
            harvester = Harvester(self._limit, files.keys(), self._settings.created_files_max)
            self._send(sock, payload, deadline)
            marked = stream.skip_past(f"greenbar-result {report.nonce}\n".encode())
            harvest = harvester.harvest(stream) if marked else Harvest()
        except DeadlinePassed:
            return report.host_timeout()
        except CapExceeded:
            return report.faulty(f"more than {self._settings.read_cap_mib} MiB came back")
        finally:
            sock.close()  # before any kill: a kill while output is unread can hang for 20 s
        if not harvest.complete:
            return report.faulty(self._unfinished(name, stream))
        return report.finished(harvest, files)

    @property
    def _limit(self) -> int:
        return self._settings.output_limit_kib * 1024

    def _send(self, sock: socket.socket, payload: bytes, deadline: float) -> None:
        sock.settimeout(max(deadline - self._clock(), 0.001))
        try:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
        except TimeoutError:
            raise DeadlinePassed() from None
        except OSError:
            pass  # the container went away early; reading tells what happened

    def _unfinished(self, name: str, stream: OutputStream) -> str:
        said = stream.diagnostics.decode("utf-8", "replace").strip()
        code = self._engine.exit_code(name)
        return f"the sandbox ended without a result (exit code {code}) {said}".strip()


class _Report:
    """Builds the RunResult for one run."""

    def __init__(
        self,
        settings: Settings,
        image: str,
        max_seconds: int,
        started: float,
        clock: Callable[[], float],
    ) -> None:
        self._settings = settings
        self._image = image
        self.max_seconds = max_seconds
        self.warm = False
        self.nonce = ""
        self._started = started
        self._clock = clock
        self.digest = ""

    def _result(self, outcome: Outcome, status: int, log: list[str], **parts: object) -> RunResult:
        empty = Text(content="", truncated=False)
        result = RunResult(
            outcome=outcome.value,
            stdout=empty,
            stderr=empty,
            status=status,
            created={},
            changed={},
            log="\n".join(log),
            duration_ms=round((self._clock() - self._started) * 1000),
            image=self._image,
            digest=self.digest,
            node=self._settings.node,
            sandbox_kib=0,
            warm=False,
        )
        result.update(parts)  # type: ignore[typeddict-item]
        result["warm"] = self.warm
        return result

    def faulty(self, why: str) -> RunResult:
        return self._result(Outcome.FAULTY, -1, [why])

    def pulling(self) -> RunResult:
        why = (
            f"image {self._image} is not on node {self._settings.node} yet: nothing ran; "
            "it is being pulled, try again shortly"
        )
        return self._result(Outcome.PULLING, -1, [why])

    def host_timeout(self) -> RunResult:
        why = f"timed out: no result within {self.max_seconds} s; the container was killed"
        return self._result(Outcome.TIMED_OUT, KILLED_STATUS, [why])

    def finished(self, harvest: Harvest, sent: Mapping[str, str]) -> RunResult:
        status = _status(harvest.out["status"])
        if status is None:
            return self.faulty("the sandbox wrote no exit status for cyber-dojo.sh")
        limit = self._settings.output_limit_kib * 1024
        log, outcome = [], Outcome.COMPLETED
        if "timed_out" in harvest.out:
            outcome = Outcome.TIMED_OUT
            log.append(f"timed out: cyber-dojo.sh was killed after {self.max_seconds} s")
        if any(int(n) > 0 for n in OOM_KILLS.findall(harvest.out.get("oom", b""))):
            log.append(
                f"out of memory: a process was killed for using more than "
                f"{self._settings.memory_mib} MiB"
            )
        return self._result(
            outcome,
            status,
            log,
            stdout=cleaned(harvest.out.get("stdout", b""), limit),
            stderr=cleaned(harvest.out.get("stderr", b""), limit),
            created={n: cleaned(f.head, limit) for n, f in sorted(harvest.created.items())},
            changed=_changed(harvest.files, sent, limit),
            sandbox_kib=-(-harvest.sandbox_bytes // 1024),
        )


def _changed(
    found: Mapping[str, SandboxFile], sent: Mapping[str, str], limit: int
) -> dict[str, Text]:
    return {
        name: cleaned(file.head, limit)
        for name, file in sorted(found.items())
        if file.is_text and file.digest != hashlib.sha256(encoded(sent[name])).digest()
    }


def _status(raw: bytes) -> int | None:
    try:
        return int(raw.strip())
    except ValueError:
        return None
