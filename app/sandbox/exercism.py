"""Images that follow exercism's test-runner interface, run through greenbar's own
`cyber-dojo.sh` (under the supervisor, by bash or sh), so every defence of a run stays as it is.

IN:  an image labelled `greenbar.interface=exercism` (its `run.sh` at
     `greenbar.exercism.run-sh`, else exercism's conventional /opt/test-runner/bin/run.sh),
     and a run naming its `exercise`.
RUN: greenbar writes the run's `cyber-dojo.sh`: it empties OUTPUT_DIR inside /sandbox, then
     execs `run.sh EXERCISE /sandbox/ /sandbox/OUTPUT_DIR/`.
OUT: OUTPUT_DIR/results.json comes back as a created file, bounded like any other, for
     app/colour/exercism.py to read.
"""

import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from app.colour.exercism import Tests, Unreadable, parse
from app.externals.engine import EngineDoor
from app.outcomes import Outcome
from app.sandbox import junit
from app.sandbox.result import RunResult
from app.sandbox.text import Text

LABEL = "greenbar.interface"
EXERCISM = "exercism"
RUN_SH_LABEL = "greenbar.exercism.run-sh"
RUN_SH = "/opt/test-runner/bin/run.sh"  # where exercism's runner images keep it
SCRIPT = "cyber-dojo.sh"
# Starts with a dot so it sorts before a learner's usual names: the result brings back the
# first created files by name, and results.json must be among them.
OUTPUT_DIR = ".greenbar-exercism"
RESULTS = f"{OUTPUT_DIR}/results.json"


@dataclass(frozen=True)
class Interface:
    """How an image that follows exercism's interface is run."""

    run_sh: str = RUN_SH

    def script(self, exercise: str) -> str:
        """The cyber-dojo.sh that runs `exercise`'s tests through the image's run.sh."""
        output = f"/sandbox/{OUTPUT_DIR}/"
        return (
            "# Written by greenbar: this image follows exercism's test-runner interface.\n"
            f"rm -rf ./{OUTPUT_DIR} && mkdir ./{OUTPUT_DIR} || exit 1\n"
            f"exec {shlex.quote(self.run_sh)} {shlex.quote(exercise)} /sandbox/ {output}\n"
        )


def declared(labels: Mapping[str, str]) -> Interface | None:
    """The exercism interface an image's labels declare, or None (a cyber-dojo-shaped image)."""
    if labels.get(LABEL) != EXERCISM:
        return None
    return Interface(labels.get(RUN_SH_LABEL) or RUN_SH)


class Interfaces:
    """Reads which interface an image on this node follows.

    Args:
        engine: this node's engine.
    """

    def __init__(self, engine: EngineDoor) -> None:
        self._engine = engine

    def of(self, image: str) -> tuple[str, Interface | None, str | None]:
        """`image`'s id on this node, its exercism interface (None for a cyber-dojo-shaped
        image) and the JUnit report its label names (app/sandbox/junit.py), from one
        inspection: the run then runs exactly that id.

        Raises:
            ImageMissing: this node does not hold `image`.
            EngineUnavailable: the engine failed.
        """
        inspected = self._engine.image(image)
        labels = (inspected.get("Config") or {}).get("Labels") or {}
        return str(inspected["Id"]), declared(labels), junit.labelled(labels)


def refused(image: str, node: str, why: str) -> RunResult:
    """A `faulty` result for a run that was not started because it does not fit its image."""
    empty = Text(content="", truncated=False)
    return RunResult(Outcome.FAULTY, empty, empty, 0, why, 0, image, "", node)


def results(result: RunResult) -> Tests | Unreadable:
    """The tests a finished run's results.json reports, or why there are none to read."""
    found = result.created.get(RESULTS)
    if found is None:
        lost = " (or it was not among the created files brought back)"
        return Unreadable(
            f"run.sh wrote no {RESULTS}{lost if result.created_truncated else ''}; "
            f"it exited with {result.status}"
        )
    if "encoding" in found:  # a run that asked for binary files, and results.json is not text
        return Unreadable(f"{RESULTS} is not UTF-8 text, so it cannot be read")
    if found["truncated"]:
        return Unreadable(
            f"{RESULTS} was cut at the size a created file may bring back "
            "(GREENBAR_OUTPUT_LIMIT_KIB), so it cannot be read"
        )
    return parse(found["content"])
