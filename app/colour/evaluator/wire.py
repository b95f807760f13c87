"""A call to an evaluator and its reply, in their wire form (JSON lines; see
images/evaluator/evaluate.py for the other side)."""

import json
from dataclasses import dataclass

from app.colour.evaluator.channel import Broken
from app.colour.rag_lambda import Verdict
from app.outcomes import VERDICTS, Outcome, Output

SHOWN_BYTES = 200


@dataclass(frozen=True)
class Call:
    """One lambda to call on one output.

    Args:
        key: names the compiled lambda in the evaluator (an image digest).
        language: `python` or `ruby`.
        source: the lambda's source.
        output: the output to colour.
        limit: the lambda's time limit, seconds.
    """

    key: str
    language: str
    source: str
    output: Output
    limit: float

    def encode(self, with_source: bool = True) -> bytes:
        """The request line; without the source, the evaluator uses what it compiled for `key`."""
        body = {
            "key": self.key,
            "language": self.language,
            "source": self.source if with_source else None,
            "stdout": self.output.stdout,
            "stderr": self.output.stderr,
            "status": self.output.status,
            "limit": self.limit,
        }
        return json.dumps(body).encode() + b"\n"


@dataclass(frozen=True)
class Reply:
    """An evaluator's answer: a verdict, or None when it does not know the key; `retire` when
    the evaluator found a process left behind and must be replaced."""

    verdict: Verdict | None
    retire: bool = False

    @classmethod
    def decode(cls, line: bytes) -> "Reply":
        """Raises Broken (`garbled`) for anything but a well-formed reply."""
        try:
            said = json.loads(line)
        except ValueError:
            said = None
        if not isinstance(said, dict):
            raise Broken("garbled", f"{line[:SHOWN_BYTES]!r}")
        retire = said.get("retire") is True
        if said.get("unknown") is True:
            return cls(None, retire)
        outcome, log = said.get("outcome"), said.get("log")
        if outcome not in VERDICTS or not isinstance(log, str):
            raise Broken("garbled", f"{line[:SHOWN_BYTES]!r}")
        return cls(Verdict(Outcome(outcome), log), retire)
