"""Carrying out recorded jobs on this node: the worker's side of a run's or a colour's life."""

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Generic

from app.cluster.metrics import Metrics
from app.colour import cases as judge
from app.colour.exercism import Unreadable, verdict
from app.colour.rag_lambda import Verdict
from app.colour.result import ColourResult
from app.colour.traffic_light import TrafficLight
from app.errors import EngineUnavailable, ImageMissing, KataBusy
from app.externals import clock
from app.externals.engine import Engine
from app.jobs.records import JobStore, R, State
from app.jobs.requests import ColourRequest, RunRequest
from app.katas.records import KataStore, volume_name
from app.katas.volumes import KataVolume, KataVolumes
from app.logs import event
from app.outcomes import Outcome
from app.sandbox import exercism, junit
from app.sandbox.exercism import Interfaces
from app.sandbox.files import Content
from app.sandbox.result import RunResult
from app.sandbox.runner import Runner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Summary:
    """What a task returns: how the job ended (the full result is in its record). `state` is
    `gone` for a job whose request had already gone (finished, or expired)."""

    id: str
    state: str
    outcome: Outcome | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "outcome": self.outcome}


class _Executor(Generic[R]):
    """Takes a queued job from its store, does it, and records how it ended, never leaving it
    `running`.

    Args:
        store: the job records.
        node: this node's name, recorded on the job.
        metrics: counts finished jobs, flushed once per job.
        cleanup: called once the job is recorded (the runner's container removals).
    """

    kind = "job"

    def __init__(
        self,
        store: JobStore[R],
        node: str,
        metrics: Metrics,
        cleanup: Callable[[], None] = lambda: None,
    ) -> None:
        self._store: JobStore[R] = store
        self._node = node
        self._metrics = metrics
        self._cleanup = cleanup  # after the result is recorded: removes containers

    def execute(self, job_id: str, worker: str = "") -> Summary:
        """Does `job_id` and records its result, naming the `worker` that did it.

        Returns:
            A short summary: id, state and outcome (the full result is in the store).
        """
        request = self._store.request(job_id)
        if request is None:
            return Summary(job_id, "gone")
        said = {f"{self.kind}_id": job_id, "image": request.image, "node": self._node}
        if not self._store.start(job_id, self._node, worker):
            self._abandon(job_id, request, said)
            return Summary(job_id, State.ERROR)
        event(log, f"{self.kind}.started", **said, worker=worker)
        try:
            return self._carry_out(job_id, request, worker, said)
        finally:
            self._cleanup()

    def _carry_out(self, job_id: str, request: R, worker: str, said: dict[str, str]) -> Summary:
        try:
            result = replace(self._work(job_id, request), worker=worker)
        except (EngineUnavailable, KataBusy) as error:
            self._fail(job_id, request, str(error), said)
            return Summary(job_id, State.ERROR)
        except BaseException as error:  # a bug, a time limit, a shutdown: still say so
            self._fail(job_id, request, f"internal error: {type(error).__name__}: {error}", said)
            raise
        finally:
            self._metrics.flush()
        self._ending(job_id, request)
        self._store.finish(job_id, result)
        outcome, duration = result.outcome, result.duration_ms
        event(log, f"{self.kind}.finished", **said, outcome=outcome, duration_ms=duration)
        return Summary(job_id, State.DONE, outcome)

    def _ending(self, job_id: str, request: R) -> None:
        """Called just before the job's end is recorded, however it ended: a client that sees
        the end can count on what this frees (runs free their kata)."""

    def _abandon(self, job_id: str, request: R, said: dict[str, str]) -> None:
        """A redelivered job whose first worker died mid-way: its container (if any is left)
        goes, and the job ends in error rather than running a second time."""
        self._remove_leftovers(job_id)
        self._fail(job_id, request, "the worker carrying it out died; it is not run twice", said)

    def _remove_leftovers(self, job_id: str) -> None:
        """Removes whatever containers a dead worker left for `job_id` (runs override this)."""

    def _fail(self, job_id: str, request: R, reason: str, said: dict[str, str]) -> None:
        self._ending(job_id, request)
        self._store.fail(job_id, reason)
        self._count("error", None)
        event(log, f"{self.kind}.error", **said, reason=reason)

    def _count(self, outcome: str, duration_ms: int | None) -> None:
        """Counts a finished job; runs are counted, colours are not."""

    def _work(self, job_id: str, request: R) -> RunResult | ColourResult:
        raise NotImplementedError


@dataclass(frozen=True)
class KataSupport:
    """What runs in kata volumes need.

    Args:
        katas: kata state (node, last use, names sent, the run holding it).
        volumes: this node's kata volumes.
        quota_kib: a volume holding more than this after a run is wiped.
        claim_seconds: how long a run's claim on its kata lasts at most.
    """

    katas: KataStore
    volumes: KataVolumes
    quota_kib: int
    claim_seconds: int


class RunExecutor(_Executor[RunRequest]):
    """Runs a recorded run, then colours it with its image's (or the client's) rag lambda, or,
    for an image following exercism's test-runner interface without one, its results.json.
    A JUnit report the request or the image names adds its tests, never a colour.

    A run whose image is not on this node is `pulling` at once, and `request_pull(image)`
    starts a pull of it here (at most one per image and node: the puller's lock). With pulls
    disabled (`request_pull` None) such a run is `faulty`: no pull is coming.
    """

    kind = "run"

    def __init__(
        self,
        store: JobStore[RunRequest],
        node: str,
        metrics: Metrics,
        runner: Runner,
        light: TrafficLight,
        kata: KataSupport,
        interfaces: Interfaces,
        request_pull: Callable[[str], None] | None,
        clock: Callable[[], float] = clock.monotonic,
    ) -> None:
        super().__init__(store, node, metrics, runner.dispose)
        self._runner = runner
        self._light = light
        self._kata = kata
        self._interfaces = interfaces
        self._request_pull = request_pull
        self._clock = clock

    def _work(self, job_id: str, request: RunRequest) -> RunResult:
        started = self._clock()
        try:
            digest, interface, report = self._interfaces.of(request.image)
        except ImageMissing:  # the runner says `pulling`, running nothing
            digest, interface, report, misfit = None, None, None, ""
        else:
            misfit = _misfit(request, interface)
        if misfit:
            result = exercism.refused(request.image, self._node, misfit)
        else:
            result = self._run(job_id, request, _files(request, interface), digest)
        result = replace(result, track=request.track, version=request.version)
        if result.outcome == Outcome.PULLING:
            if self._request_pull is not None:
                self._request_pull(request.image)
            else:
                why = f"image {request.image} is not on node {self._node}; pulls are disabled"
                result = replace(result, outcome=Outcome.FAULTY, log=why)
        if request.cases:  # its cases tell its colour
            result = _judged(result, request)
        if result.outcome is None:  # it ran to its end: the traffic light tells its colour
            result = self._coloured(job_id, request, result, interface, report)
            result = replace(result, duration_ms=round((self._clock() - started) * 1000))
        assert result.outcome is not None
        self._count(result.outcome, result.duration_ms)
        return result

    def _coloured(
        self,
        job_id: str,
        request: RunRequest,
        result: RunResult,
        interface: exercism.Interface | None,
        report: str | None,
    ) -> RunResult:
        """A run that ended by itself, with its tests read and the colour its rule gives."""
        result, tested = _tested(result, interface)
        result = junit.reported(result, request.junit_xml or report)
        verdict = self._light.colour(
            result.digest, result.output, request.rag_lambda, job_id, tested
        )
        return replace(result.logged(verdict.log), outcome=verdict.outcome)

    def _remove_leftovers(self, job_id: str) -> None:
        self._runner.remove(job_id)
        self._light.remove(job_id)  # a client's copy's one-shot evaluator

    def _count(self, outcome: str, duration_ms: int | None) -> None:
        self._metrics.count("runs_total", outcome=outcome)
        if duration_ms is not None:
            self._metrics.observe_run_seconds(duration_ms / 1000)

    def _ending(self, job_id: str, request: RunRequest) -> None:
        if request.kata_ref is not None:
            self._kata.katas.release(request.kata_ref, job_id)

    def _run(
        self, job_id: str, request: RunRequest, files: dict[str, Content], digest: str | None
    ) -> RunResult:
        image, seconds = request.image, request.max_seconds
        kata, cases = request.kata_ref, request.cases or ()
        if kata is None:
            return self._runner.run(
                image,
                files,
                seconds,
                job_id,
                stdin=request.stdin,
                digest=digest,
                run_limits=request.limits,
                cases=cases,
                return_binary=request.return_binary,
            )
        holder = self._kata.katas.claim(kata, job_id, self._kata.claim_seconds)
        if holder is not None:  # its claim from the API expired while it waited: say so
            raise KataBusy(f"kata {request.kata} is in use by run {holder}")
        before = set(self._kata.katas.use(kata, self._node, files))
        try:
            volume = self._kata.volumes.ensure(kata, image)
        except ImageMissing:  # the run says `pulling` without touching the volume
            volume = KataVolume(volume_name(kata), kata)
        result = self._runner.run(
            image,
            files,
            seconds,
            job_id,
            kata=(volume.name, volume.uid),
            deleted=sorted(before - set(files)),
            kata_name=request.kata,
            stdin=request.stdin,
            digest=digest,
            cases=cases,
            run_limits=request.limits,
            return_binary=request.return_binary,
        )
        self._runner.dispose()  # the volume is free once the client has the result
        kib, quota = result.sandbox_kib, self._kata.quota_kib
        if kib > quota or result.outcome == Outcome.FAULTY:
            self._kata.volumes.remove(volume.name)
            self._kata.katas.forget(kata)
            why = (
                f"the kata volume was wiped: it held {kib} KiB after the run, over its quota "
                f"of {quota} KiB"
                if kib > quota
                else "the kata volume was wiped because the run did not complete"
            )
            return result.logged(why)
        return result


def _judged(result: RunResult, request: RunRequest) -> RunResult:
    """A run with cases: each case passed or not (also in a run that timed out), and the
    colour they give a run that ended by itself."""
    assert request.cases
    compare: judge.Compare = "trimmed" if request.compare == "trimmed" else "exact"
    result = judge.judged(result, request.cases, compare)
    if result.outcome is not None:
        return result
    said = judge.verdict(result, len(request.cases))
    return replace(result.logged(said.log), outcome=said.outcome)


def _misfit(request: RunRequest, interface: exercism.Interface | None) -> str:
    """Why a run does not fit its image's interface ("" when it does)."""
    if request.exercise is not None and interface is None:
        return (
            f"image {request.image} does not follow exercism's test-runner interface (label "
            f"{exercism.LABEL}={exercism.EXERCISM}): `exercise` is only for images that do"
        )
    if request.exercise is None and interface is not None:
        return (
            f"image {request.image} follows exercism's test-runner interface: a run of it "
            "names its `exercise`"
        )
    return ""


def _files(request: RunRequest, interface: exercism.Interface | None) -> dict[str, Content]:
    """The files to send: an exercism run's with the cyber-dojo.sh that calls its run.sh."""
    if interface is None or request.exercise is None:
        return request.files
    return {**request.files, exercism.SCRIPT: interface.script(request.exercise)}


def _tested(
    result: RunResult, interface: exercism.Interface | None
) -> tuple[RunResult, Verdict | None]:
    """An exercism run's result with its tests read, and the verdict they give an image
    without a rag lambda (None for other runs: the traffic light alone decides)."""
    if interface is None:
        return result, None
    tests = exercism.results(result)
    if isinstance(tests, Unreadable):
        return result.logged(tests.why), Verdict(Outcome.FAULTY)
    return replace(result, tests=tests), verdict(tests)


class ColourExecutor(_Executor[ColourRequest]):
    """Colours recorded outputs with an image's (or a given) rag lambda."""

    kind = "colour"

    def __init__(
        self,
        store: JobStore[ColourRequest],
        node: str,
        metrics: Metrics,
        engine: Engine,
        light: TrafficLight,
        clock: Callable[[], float] = clock.monotonic,
        cleanup: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(store, node, metrics, cleanup)
        self._engine = engine
        self._light = light
        self._clock = clock

    def _remove_leftovers(self, job_id: str) -> None:
        self._light.remove(job_id)  # a client's copy's one-shot evaluator

    def _work(self, job_id: str, request: ColourRequest) -> ColourResult:
        started = self._clock()
        image, digest = request.image, ""
        try:
            digest = self._engine.image_id(image)
        except ImageMissing:
            outcome, why = Outcome.FAULTY, f"image {image} is not on node {self._node}"
        else:
            verdict = self._light.colour(digest, request.output, request.rag_lambda, job_id)
            outcome, why = verdict.outcome, verdict.log
        duration = round((self._clock() - started) * 1000)
        return ColourResult(outcome, why, image, digest, self._node, duration)
