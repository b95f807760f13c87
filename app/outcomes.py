"""How a run or a colour ends, and what a rag lambda judges: greenbar's vocabulary of results."""

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    """The one answer a client branches on."""

    RED = "red"  # the tests ran and failed
    AMBER = "amber"  # it did not compile or run
    GREEN = "green"  # the tests pass
    TIMED_OUT = "timed_out"  # cyber-dojo.sh ran past max_seconds and was killed
    FAULTY = "faulty"  # greenbar could not tell: no result, no rule, a rule that failed
    PULLING = "pulling"  # the image is not on the node yet: nothing ran

    @property
    def is_colour(self) -> bool:
        return self in COLOURS


COLOURS = frozenset({Outcome.RED, Outcome.AMBER, Outcome.GREEN})
VERDICTS = COLOURS | {Outcome.FAULTY}  # what a rag lambda's evaluation may answer


@dataclass(frozen=True)
class Output:
    """What a program gave, as a rag lambda sees it: its cleaned output and exit status."""

    stdout: str
    stderr: str
    status: int
