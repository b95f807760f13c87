"""cyber-dojo's runner API over greenbar's jobs: its request read into a `RunRequest`, a
finished run's `JobView` told in its answer's shape, and its `pull_image` answer. Pure
functions; web/cyber_dojo.py only translates HTTP to these.

The shapes are cyber-dojo/runner's `source/server/runner.rb` (`result`, `empty_result`,
`STATUS`, `truncated`) and `puller.rb` (`:pulled`/`:pulling`), as read by cyber-dojo/web's
`source/app/models/runner.rb` and `app.rb` (`/kata/run_tests`).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.config import Settings
from app.errors import ImageNotAllowed
from app.images.allowlist import Allowlist, normalized
from app.jobs.records import JobView, State
from app.jobs.requests import RunRequest
from app.outcomes import Outcome
from app.sandbox.files import validate

# cyber-dojo's runner answers these statuses, as strings, when cyber-dojo.sh did not run to its
# end: runner.rb's STATUS (141 pulling, 142 timed_out, 143 faulty: the run itself failed).
PULLING_STATUS = "141"
TIMED_OUT_STATUS = "142"
FAULTY_STATUS = "143"
# Beyond max_seconds, a run's answer may take: the queue, a container's start, the host's two
# seconds of grace, removal and colouring. cyber-dojo's web reads with Net::HTTP's default
# read_timeout, 60 s: 20 s (greenbar's default limit) + 15 s stays well within it.
WAIT_MARGIN_SECONDS = 15


@dataclass(frozen=True)
class CyberDojoRun:
    """A run_cyber_dojo_sh request: cyber-dojo's `id` (for tracing only) and greenbar's run."""

    id: str
    run: RunRequest

    @property
    def wait_seconds(self) -> float:
        """The longest its caller waits for the answer."""
        return self.run.max_seconds + WAIT_MARGIN_SECONDS


def run_request(body: Mapping[str, Any], settings: Settings, allowlist: Allowlist) -> CyberDojoRun:
    """Reads a run_cyber_dojo_sh body that already conforms to its schema.

    cyber-dojo's `id` is not greenbar's kata: its web service sends every file on every run
    (its runner keeps nothing) and an id that changes with each run (`<kata>-<index>`), so
    each run is stateless, as in cyber-dojo. A `max_seconds` above greenbar's limit is cut to
    it, as cyber-dojo's runner cuts it to 15.

    Raises:
        InvalidRequest: naming the field (`files[NAME]`, `manifest[image_name]`) and the rule.
    """
    manifest = body["manifest"]
    image = allowed(manifest["image_name"], allowlist, "manifest[image_name]")
    seconds = manifest.get("max_seconds", settings.max_seconds_default)
    run = RunRequest(
        image=image,
        files=validate(body["files"], settings),
        max_seconds=min(seconds, settings.max_seconds_limit),
        rag_lambda=manifest.get("rag_lambda"),
    )
    return CyberDojoRun(body["id"], run)


def allowed(image: str, allowlist: Allowlist, field: str) -> str:
    """`image` if the allowlist holds it.

    Raises:
        ImageNotAllowed: naming `field`, cyber-dojo's name for the image.
    """
    try:
        return allowlist.check(image)
    except ImageNotAllowed as refused:
        raise ImageNotAllowed(field, refused.rule) from None


def answer(view: JobView) -> dict[str, Any]:
    """cyber-dojo's run_cyber_dojo_sh answer for a final run: stdout, stderr, status (a
    string), outcome, log (an object: empty when there is nothing to say), created and
    changed (`{name: {"content", "truncated"}}`). cyber-dojo's runner returns no deleted
    files, and neither does this.
    """
    if view.state == State.ERROR or view.result is None:
        why = {"greenbar_run": view.id, "error": view.error or "the run has no result"}
        return _answer(_empty(), _empty(), FAULTY_STATUS, Outcome.FAULTY, why, {}, {})
    result = view.result
    outcome = Outcome(result["outcome"])
    status = {Outcome.PULLING: PULLING_STATUS, Outcome.TIMED_OUT: TIMED_OUT_STATUS}.get(
        outcome, str(result["status"])
    )
    said = {"greenbar_run": view.id, "message": result["log"]} if result["log"] else {}
    return _answer(
        result["stdout"],
        result["stderr"],
        status,
        outcome,
        said,
        result["created"],
        result["changed"],
    )


def _empty() -> dict[str, Any]:
    return {"content": "", "truncated": False}


def _answer(
    stdout: Any, stderr: Any, status: str, outcome: Outcome, log: Any, created: Any, changed: Any
) -> dict[str, Any]:
    return {
        "stdout": stdout,
        "stderr": stderr,
        "status": status,
        "outcome": outcome.value,
        "log": log,
        "created": created,
        "changed": changed,
    }


def pulled(image: str, nodes: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether every live node holds `image` (`nodes`: WorkerRegistry.nodes()): a run may be
    routed to any of them, so only then is cyber-dojo's `pulled` true of the deployment."""
    wanted = normalized(image)
    held = [{normalized(i["image"]) for i in node.get("images", [])} for node in nodes.values()]
    return bool(held) and all(wanted in images for images in held)
