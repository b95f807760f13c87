"""A run's result: what the runner saw, then its colour; the record owns its wire form (the
`result` of GET /runs/<id>, described in web/contract.py)."""

from dataclasses import asdict, dataclass, field, replace
from typing import Any, TypedDict

from app.colour.exercism import Tests
from app.outcomes import Outcome, Output
from app.sandbox.cases import CaseResult
from app.sandbox.limits import Applied
from app.sandbox.text import Binary, Text


class Kept(TypedDict):
    """Kata runs: the names a volume keeps besides the files sent."""

    names: list[str]
    truncated: bool


@dataclass(frozen=True)
class RunResult:
    """One run's result.

    `outcome` is None while the run has ended without greenbar's verdict: it ran to its end
    and its colour is the traffic light's to tell (see app/jobs/executors.py).
    """

    outcome: Outcome | None
    stdout: Text
    stderr: Text
    status: int
    log: str
    duration_ms: int
    image: str
    digest: str
    node: str
    # Binary files (base64) only when the request asked for them (`return_binary`).
    created: dict[str, Text | Binary] = field(default_factory=dict)
    created_truncated: bool = False
    changed: dict[str, Text | Binary] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    sandbox_kib: int = 0  # what /sandbox held after the run
    # The kernel killed a process of the run (or the whole sandbox) for memory.
    oom_killed: bool = False
    # Measured by the supervisor; None where unknown (no run, or a cgroup it cannot read).
    run_ms: int | None = None  # cyber-dojo.sh's own wall time, from its start to its exit
    cpu_ms: int | None = None  # the container's CPU time over the run, user + system
    memory_peak_kib: int | None = None  # the container's memory high-water mark
    warm: bool = False  # it ran in a warm container (started before the run came)
    kept: Kept | None = None  # kata runs only
    track: str | None = None  # runs of a track: its slug and the version asked for
    version: str | None = None
    tests: Tests | None = None  # an exercism-interface run's results.json, read
    worker: str = ""
    # Runs with test cases: whether build.sh ran first (then stdout, stderr and status are
    # its), and each case's result in order.
    built: bool | None = None
    cases: list[CaseResult] | None = None
    # The limits it ran with: its image's, with the run's own applied (None: it was refused
    # before any were looked at).
    limits: Applied | None = None

    @property
    def output(self) -> Output:
        return Output(self.stdout["content"], self.stderr["content"], self.status)

    def logged(self, line: str) -> "RunResult":
        """This result with `line` added to its log."""
        return replace(self, log="\n".join(part for part in (self.log, line) if part))

    def to_wire(self) -> dict[str, Any]:
        """The JSON form; the optional parts only where they apply."""
        if self.outcome is None:
            raise ValueError("a result goes out only with its outcome")
        wire = asdict(self)
        for optional in ("kept", "track", "version", "tests", "built", "cases"):
            if wire[optional] is None:
                del wire[optional]
        return wire

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> "RunResult":
        return cls(**{**wire, "outcome": Outcome(wire["outcome"])})
