"""Untrusted rag lambdas (a kata's edited copy) are called inside a sandbox of the same image.

They never run in the worker: the call is an ordinary run, with every limit a run has, whose
cyber-dojo.sh is a small Python program that calls the lambda and prints its answer as JSON.
"""

import json
import math

from app.rag_lambda import Verdict, validated, wrong_answer
from app.runner import Outcome, Runner

CALLER = """\
import json, re, signal, sys

def alarm(signum, frame):
    raise TimeoutError("time limit")

given = json.load(open("greenbar_rag_input.json"))
namespace = {"re": re}
try:
    exec(compile(given["source"], "red_amber_green.py", "exec"), namespace)
except BaseException as error:
    print(json.dumps({"failure": "compile", "error": f"{type(error).__name__}: {error}"}))
    sys.exit(0)
if not callable(namespace.get("colour")):
    print(json.dumps({"failure": "compile", "error": "it defines no function colour()"}))
    sys.exit(0)
signal.signal(signal.SIGALRM, alarm)
signal.setitimer(signal.ITIMER_REAL, given["limit"])
try:
    answer = namespace["colour"](given["stdout"], given["stderr"], given["status"])
except TimeoutError:
    print(json.dumps({"failure": "timeout"}))
except BaseException as error:
    print(json.dumps({"failure": "raised", "error": f"{type(error).__name__}: {error}"}))
else:
    signal.setitimer(signal.ITIMER_REAL, 0)
    shown = {"answer": answer} if isinstance(answer, str) else {"failure": "returned"}
    print(json.dumps({**shown, "error": repr(answer)[:200]}))
"""
SCRIPT = (
    "command -v python3 >/dev/null || { echo greenbar-no-python3; exit 127; }\n"
    "exec python3 greenbar_rag.py\n"
)


class SandboxedLambda:
    """Calls lambdas that differ from their image's own inside a sandbox of that image.

    Args:
        runner: runs the sandbox.
        limit_seconds: the lambda's own time limit.
    """

    def __init__(self, runner: Runner, limit_seconds: float) -> None:
        self._runner = runner
        self._limit = limit_seconds

    def colour(
        self, image: str, source: str, stdout: str, stderr: str, status: int, call_id: str
    ) -> Verdict:
        """The untrusted lambda's verdict; `call_id` names the sandbox container."""
        given = {"source": source, "stdout": stdout, "stderr": stderr, "status": status}
        files = {
            "cyber-dojo.sh": SCRIPT,
            "greenbar_rag.py": CALLER,
            "greenbar_rag_input.json": json.dumps({**given, "limit": self._limit}),
        }
        max_seconds = math.ceil(self._limit) + 1  # python's start-up on top of the limit
        result = self._runner.run(image, files, max_seconds, call_id)
        printed = result["stdout"]["content"]
        if result["outcome"] == Outcome.TIMED_OUT:
            return self._timeout(source)
        if "greenbar-no-python3" in printed:
            why = f"image {image} has no python3, so a rag lambda differing from its own cannot run"
            return Verdict.faulty(why, source)
        return self._verdict(printed, result["log"], source)

    def _timeout(self, source: str) -> Verdict:
        why = f"the rag lambda took longer than its time limit of {self._limit} s (in a sandbox)"
        return Verdict.faulty(why, source)

    def _verdict(self, printed: str, log: str, source: str) -> Verdict:
        try:
            said = json.loads(printed.strip().splitlines()[-1])
        except (ValueError, IndexError):
            why = f"the sandboxed rag lambda gave no answer: {printed[-500:]!r} {log}"
            return Verdict.faulty(why.strip(), source)
        failure = said.get("failure")
        if failure == "timeout":
            return self._timeout(source)
        if failure == "compile":
            return Verdict.faulty(f"the rag lambda does not compile: {said['error']}", source)
        if failure == "raised":
            return Verdict.faulty(f"the rag lambda raised {said['error']}", source)
        if failure == "returned":
            return wrong_answer(said["error"], source)
        return validated(said.get("answer"), source)
