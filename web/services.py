"""What the request handlers use, wired once by `create_app`."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app

from app.cluster.metrics import Metrics
from app.cluster.workers import WorkerRegistry
from app.config import Settings
from app.externals.store import Client
from app.images.allowlist import Allowlist
from app.images.pull_records import PullStore
from app.images.tracks import TrackStore
from app.jobs.admission import Admission
from app.jobs.queue_depth import QueueDepth
from app.jobs.records import RunStore
from app.katas.records import KataStore


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
