"""What the request handlers use, wired once by `create_app`."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app

from app.admission import Admission
from app.allowlist import Allowlist
from app.config import Settings
from app.katas import KataStore
from app.metrics import Metrics
from app.pulls import PullStore
from app.queue_depth import QueueDepth
from app.runs import RunStore
from app.store import Client
from app.tracks import TrackStore
from app.workers import WorkerRegistry


@dataclass(frozen=True)
class Services:
    settings: Settings
    runs: RunStore
    colours: RunStore
    registry: WorkerRegistry
    allowlist: Allowlist
    katas: KataStore
    depth: QueueDepth
    admission: Admission
    metrics: Metrics
    tracks: TrackStore
    pulls: PullStore
    send: Callable[[str, list[Any], str | None], None]  # (task name, arguments, queue or None)
    redis: Client
    sha: str


def services() -> Services:
    """The current app's services."""
    return current_app.extensions["greenbar"]  # type: ignore[no-any-return]
