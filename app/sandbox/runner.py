"""The runner: one fresh hardened container per run, greenbar's request in on stdin, the
supervisor's result out on stdout (see app/sandbox/feed.py, app/sandbox/harvest.py, supervisor/)."""

import logging
import socket
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from app.config import Settings
from app.errors import EngineUnavailable, ImageMissing
from app.externals import clock
from app.externals.engine import EngineDoor
from app.outcomes import Outcome
from app.sandbox import spec
from app.sandbox.cases import Case, CaseResult
from app.sandbox.feed import Limits, request
from app.sandbox.files import Content
from app.sandbox.harvest import CaseHarvest, Harvest, Harvester
from app.sandbox.home import home_files
from app.sandbox.limits import NONE_ASKED, RunLimits, applied, warm_fits
from app.sandbox.pool import WarmPool
from app.sandbox.result import Kept, RunResult
from app.sandbox.stream import CapExceeded, DeadlinePassed, OutputStream
from app.sandbox.supervisor import SupervisorVolume
from app.sandbox.text import Binary, Text, cleaned, file_head
from app.sandbox.uids import UidAllocator

# The supervisor ends cyber-dojo.sh at max_seconds and then needs a moment to report; the
# host waits this much longer before it gives up on the container itself.
HOST_GRACE_SECONDS = 2.0
log = logging.getLogger(__name__)
KILLED_STATUS = 137  # 128 + SIGKILL, what a shell reports for a killed command
KEPT_NAMES_MAX = 1024  # names listed of the files a kata volume keeps
# dockerd may record a container's OOM kill a moment after the container ends (seen under
# load): a run killed with 137 is looked at again for this long before it is called faulty.
OOM_FLAG_SECONDS = 1.0
OOM_FLAG_PAUSE_SECONDS = 0.05


class Runner:
    """Runs a learner's files in a hardened container on one node.

    Args:
        engine: the node's Docker engine.
        settings: limits and container settings.
        supervisor: the node's supervisor volume.
        uids: gives each fresh container a uid of its own.
        clock: monotonic seconds, for deadlines and durations.
        pool: warm containers to take instead of creating one.
        sleep: waits between looks at a killed container's OOM flag.
        grace: seconds past max_seconds the host waits for a result before it gives up.
    """

    def __init__(
        self,
        engine: EngineDoor,
        settings: Settings,
        supervisor: SupervisorVolume,
        uids: UidAllocator,
        clock: Callable[[], float] = clock.monotonic,
        pool: WarmPool | None = None,
        sleep: Callable[[float], None] = clock.sleep,
        grace: float = HOST_GRACE_SECONDS,
    ) -> None:
        self._grace = grace
        self._sleep = sleep
        self._engine = engine
        self._settings = settings
        self._supervisor = supervisor
        self._uids = uids
        self._clock = clock
        self._pool = pool
        # Containers to remove once the result is recorded: not on the path to the result.
        self._leftovers: list[str] = []

    def run(
        self,
        image: str,
        files: Mapping[str, Content],
        max_seconds: int,
        run_id: str,
        *,
        kata: tuple[str, int] | None = None,
        deleted: Collection[str] = (),
        kata_name: str | None = None,
        stdin: str | None = None,
        digest: str | None = None,
        cases: Sequence[Case] = (),
        run_limits: RunLimits = NONE_ASKED,
        return_binary: bool = False,
    ) -> RunResult:
        """Runs `files`' cyber-dojo.sh in a new container of `image`.

        Args:
            image: an image name on this node.
            files: validated relative names to text or base64 (`app.sandbox.files.validate`).
            max_seconds: wall-clock limit of cyber-dojo.sh.
            run_id: names the container; one run id never gets two containers.
            kata: a kata volume for /sandbox instead of a fresh tmpfs, and the uid that owns
                its files.
            deleted: names to remove from the volume first (no longer sent by the client).
            kata_name: the client's name for the kata, the run's CYBER_DOJO_ID (else run_id).
            stdin: what cyber-dojo.sh reads on its standard input (None: /dev/null).
            digest: `image`'s id, when the caller has just inspected it (None: look it up).
            cases: test cases: build.sh once, then cyber-dojo.sh once per case, all within
                max_seconds (supervisor/cases.c).
            run_limits: the memory, CPUs and output limit the run asked for, within its image's
                caps (app/sandbox/limits.py); what it did not ask for is its image's.
            return_binary: binary files the run changed or created come back, base64.

        Returns:
            The result; expected failures (timeout, a missing image) are outcomes, not raises.

        Raises:
            EngineUnavailable: the Docker engine failed.
        """
        settings = run_limits.apply(self._settings.for_image(image))
        report = _Report(settings, image, max_seconds, self._clock(), self._clock)
        report.binary = return_binary
        try:
            report.digest = digest or self._engine.image_id(image)
        except ImageMissing:
            return report.pulling()
        kept = KEPT_NAMES_MAX if kata is not None else 0
        limits = Limits(
            max_seconds,
            _bytes(settings) + 1,
            settings.created_files_max,
            kept,
            _nproc(settings),
            binary=return_binary,
        )
        name = spec.container_name(run_id)
        # Warm containers have the node's settings: a profiled image's runs, and runs asking
        # for other memory or CPUs, get fresh ones.
        warm = kata is None and warm_fits(settings, self._settings)
        sock = self._warm(report.digest, name) if warm else None
        report.warm = sock is not None
        report.cases = len(cases)
        if sock is None:
            sock = self._fresh(settings, report.digest, name, run_id, kata)
        try:
            harvester = Harvester(
                limits.out_cap, len(files), limits.created_max, limits.kept_max, len(cases)
            )
            variables = {"CYBER_DOJO_ID": kata_name or run_id, "CYBER_DOJO_IMAGE_NAME": image}
            feed = request(limits, files, deleted, variables, home_files(), stdin, cases)
            return self._feed_and_read(name, sock, feed, harvester, report, kata is not None)
        finally:
            self._leftovers.append(name)

    def _fresh(
        self,
        settings: Settings,
        digest: str,
        name: str,
        run_id: str,
        kata: tuple[str, int] | None,
    ) -> socket.socket:
        supervisor = self._supervisor.ensure(digest)
        uid = kata[1] if kata is not None else self._uids.allocate()
        labels = spec.run_labels(self._settings, run_id)
        volume = kata[0] if kata is not None else None
        self._engine.create(spec.spec(settings, digest, name, labels, uid, supervisor, volume))
        sock = self._engine.attach(name)
        try:
            self._engine.start(name)
        except EngineUnavailable:
            sock.close()
            self._supervisor.forget()  # if its volume went away, the next run makes it again
            raise
        return sock

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
        self._engine.remove(spec.container_name(run_id))

    def _feed_and_read(
        self,
        name: str,
        sock: socket.socket,
        feed: bytes,
        harvester: Harvester,
        report: "_Report",
        kata: bool,
    ) -> RunResult:
        try:
            deadline = self._clock() + report.max_seconds + self._grace
            stream = OutputStream(
                sock, deadline, self._settings.read_cap_mib * 1024 * 1024, self._clock
            )
            self._send(sock, feed, deadline)
            harvest = harvester.harvest(stream)
        except DeadlinePassed:
            return report.host_timeout()
        except CapExceeded:
            return report.faulty(f"more than {self._settings.read_cap_mib} MiB came back")
        finally:
            sock.close()  # before any kill: a kill while output is unread can hang for 20 s
        if not harvest.complete:
            if self._killed_for_memory(name):
                return report.killed_for_memory()
            return report.faulty(self._unfinished(name, stream, harvest.problem))
        return report.finished(harvest, kata)

    def _killed_for_memory(self, name: str) -> bool:
        """Whether the kernel killed the container for memory; one that ended killed (137)
        without the flag is looked at again for OOM_FLAG_SECONDS."""
        deadline = self._clock() + OOM_FLAG_SECONDS
        while True:
            state = self._engine.state(name)
            if state is None or state.oom_killed:
                return state is not None
            if state.running or state.exit_code != KILLED_STATUS or self._clock() >= deadline:
                return False
            self._sleep(OOM_FLAG_PAUSE_SECONDS)

    def _send(self, sock: socket.socket, payload: bytes, deadline: float) -> None:
        sock.settimeout(max(deadline - self._clock(), 0.001))
        try:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
        except TimeoutError:
            raise DeadlinePassed() from None
        except OSError:
            pass  # the container went away early; reading tells what happened

    def _unfinished(self, name: str, stream: OutputStream, problem: str) -> str:
        said = stream.diagnostics.decode("utf-8", "replace").strip()
        code = self._engine.exit_code(name)
        why = f"the sandbox ended without a result (exit code {code}) {said} {problem}"
        return " ".join(why.split())


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
        self.cases = 0  # how many test cases were sent
        self.binary = False  # the request asked for binary files back
        self._started = started
        self._clock = clock
        self.digest = ""

    def _result(
        self, outcome: Outcome | None, status: int, log: list[str], **parts: Any
    ) -> RunResult:
        empty = Text(content="", truncated=False)
        return RunResult(
            outcome=outcome,
            stdout=parts.pop("stdout", empty),
            stderr=parts.pop("stderr", empty),
            status=status,
            log="\n".join(log),
            duration_ms=round((self._clock() - self._started) * 1000),
            image=self._image,
            digest=self.digest,
            node=self._settings.node,
            warm=self.warm,
            limits=applied(self._settings, self.max_seconds),
            **parts,
        )

    def faulty(self, why: str) -> RunResult:
        return self._result(Outcome.FAULTY, -1, [why])

    def pulling(self) -> RunResult:
        why = (
            f"image {self._image} is not on node {self._settings.node} yet: nothing ran; "
            "it is being pulled, try again shortly"
        )
        return self._result(Outcome.PULLING, -1, [why])

    def killed_for_memory(self) -> RunResult:
        """The whole sandbox was killed for memory (under gVisor an OOM kill takes the
        sandbox, supervisor included): the run's doing, reported as such, its output lost."""
        why = (
            f"out of memory: the sandbox was killed for using more than "
            f"{self._settings.memory_mib} MiB; its output is lost"
        )
        # Ran to its end: the rule decides its colour (amber for most), the flag says why.
        return self._result(None, KILLED_STATUS, [why], oom_killed=True)

    def host_timeout(self) -> RunResult:
        why = f"timed out: no result within {self.max_seconds} s; the container was killed"
        return self._result(Outcome.TIMED_OUT, KILLED_STATUS, [why])

    def finished(self, harvest: Harvest, kata: bool) -> RunResult:
        assert harvest.status is not None  # a complete harvest has one
        limit = self._settings.output_limit_kib * 1024
        log, metrics = [], harvest.metrics
        outcome: Outcome | None = None  # ran to its end: its colour is the rule's
        cases = self.cases > 0
        if harvest.timed_out:
            outcome = Outcome.TIMED_OUT
            if not cases:
                log.append(f"timed out: cyber-dojo.sh was killed after {self.max_seconds} s")
        oom_killed = metrics.get("oom_kills", 0) > 0
        if oom_killed:
            log.append(
                f"out of memory: a process was killed for using more than "
                f"{self._settings.memory_mib} MiB"
            )
        kept = Kept(names=harvest.kept, truncated=bool(metrics.get("kept_truncated")))
        if cases:
            log.append(_cases_log(harvest, self.max_seconds))
        return self._result(
            outcome,
            harvest.status,
            log,
            stdout=cleaned(harvest.stdout, limit),
            stderr=cleaned(harvest.stderr, limit),
            created=self._files(harvest.created, limit),
            created_truncated=bool(metrics.get("created_truncated")),
            changed=self._files(harvest.changed, limit),
            deleted=sorted(harvest.deleted),
            sandbox_kib=metrics.get("sandbox_kib", 0),
            kept=kept if kata else None,
            oom_killed=oom_killed,
            run_ms=metrics.get("run_ms"),
            cpu_ms=harvest.usage.get("cpu_ms"),
            memory_peak_kib=harvest.usage.get("memory_peak_kib"),
            built=harvest.built if cases else None,
            cases=[_case(case, limit) for case in harvest.cases] if cases else None,
        )

    def _files(self, heads: Mapping[str, bytes], limit: int) -> dict[str, Text | Binary]:
        """Changed or created files by name, as text, or base64 when binary ones were asked."""
        return {name: file_head(head, limit, self.binary) for name, head in sorted(heads.items())}


def _case(case: CaseHarvest, limit: int) -> CaseResult:
    meta = case.meta
    started = meta.get("started", 1) == 1
    return CaseResult(
        stdout=cleaned(case.stdout, limit),
        stderr=cleaned(case.stderr, limit),
        status=meta["status"] if started else None,
        timed_out=bool(meta["timed_out"]),
        oom_killed=meta.get("oom_kills", 0) > 0,
        run_ms=meta["run_ms"],
        cpu_ms=meta.get("cpu_ms"),
        memory_peak_kib=meta.get("memory_peak_kib"),
        passed=None,
    )


def _cases_log(harvest: Harvest, max_seconds: int) -> str:
    """What happened to the cases as a whole, for the result's log."""
    ran = sum(case.meta.get("started", 1) for case in harvest.cases)
    if harvest.built and not harvest.cases:
        if harvest.timed_out:
            return f"timed out: build.sh was killed after {max_seconds} s; no case ran"
        return f"build.sh failed (status {harvest.status}): no case ran"
    blocked = sum(case.meta.get("blocked", 0) for case in harvest.cases)
    if blocked:
        return (
            f"{blocked} case(s) never started: a process of an earlier case outlived every"
            " kill, or the pids limit left no process to start the next one"
        )
    if ran < len(harvest.cases):
        unstarted = len(harvest.cases) - ran
        return f"timed out: the run's {max_seconds} s ran out; {unstarted} case(s) never started"
    return f"{ran} case(s) ran" + (" after build.sh" if harvest.built else "")


def _bytes(settings: Settings) -> int:
    # The output limit: what is kept of stdout, of stderr and of each file brought back.
    return settings.output_limit_kib * 1024


def _nproc(settings: Settings) -> int:
    # The pids limit less the supervisor and docker-init, which are not the run's uid.
    return max(settings.pids_limit - 2, 1)
