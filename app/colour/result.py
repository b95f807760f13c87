"""A colour's result, in its wire form (the `result` of GET /colours/<id>)."""

from dataclasses import asdict, dataclass
from typing import Any

from app.outcomes import Outcome


@dataclass(frozen=True)
class ColourResult:
    outcome: Outcome  # a colour, or faulty
    log: str
    image: str
    digest: str
    node: str
    duration_ms: int
    worker: str = ""

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)
