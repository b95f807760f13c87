"""What a client asks for, validated, as a worker receives it: each record owns its wire form
(what app/jobs/records.py keeps in Redis until a worker finishes the job)."""

from dataclasses import asdict, dataclass, field
from typing import Any

from app.outcomes import Output
from app.sandbox.cases import Case
from app.sandbox.files import Content
from app.sandbox.limits import RunLimits


def _present(record: object) -> dict[str, Any]:
    """The record's fields, the unset optional ones left out."""
    return {k: v for k, v in asdict(record).items() if v is not None}  # type: ignore[call-overload]


@dataclass(frozen=True)
class RunRequest:
    """A run: the image (named, or a track's version resolved to one), the files and limit,
    and optionally the client's copy of the rag lambda, a kata to keep files in, the
    exercise whose tests an image following exercism's test-runner interface runs, what
    cyber-dojo.sh reads on its standard input, where the run leaves a JUnit report, and
    whether binary files come back (base64)."""

    image: str
    files: dict[str, Content] = field(default_factory=dict)  # base64 ones as sent: JSON
    max_seconds: int = 10
    rag_lambda: str | None = None
    kata: str | None = None  # the client's name for it
    kata_ref: str | None = None  # its volume's reference: the client's own, unguessable
    track: str | None = None
    version: str | None = None
    exercise: str | None = None  # its slug (app/sandbox/exercism.py)
    stdin: str | None = None  # None: cyber-dojo.sh reads /dev/null
    cases: tuple[Case, ...] | None = None  # build.sh once, then cyber-dojo.sh once per case
    compare: str | None = None  # how a case's stdout is held to its expected_stdout
    # Its own limits within its image's caps (app/sandbox/limits.py); None: the image's.
    memory_mib: int | None = None
    cpus: float | None = None
    output_limit_kib: int | None = None
    junit_xml: str | None = None  # the run's JUnit report, in /sandbox (app/sandbox/junit.py)
    return_binary: bool = False  # binary files the run changed or created come back, base64

    @property
    def limits(self) -> RunLimits:
        return RunLimits(self.memory_mib, self.cpus, self.output_limit_kib)

    def to_wire(self) -> dict[str, Any]:
        return _present(self)

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> "RunRequest":
        cases = wire.get("cases")
        if cases is None:
            return cls(**wire)
        return cls(**{**wire, "cases": tuple(Case.from_wire(case) for case in cases)})


@dataclass(frozen=True)
class ColourRequest:
    """Outputs the client already has, to colour with an image's (or the client's) lambda."""

    image: str
    stdout: str
    stderr: str
    status: int
    rag_lambda: str | None = None

    @property
    def output(self) -> Output:
        return Output(self.stdout, self.stderr, self.status)

    def to_wire(self) -> dict[str, Any]:
        return _present(self)

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> "ColourRequest":
        return cls(**wire)
