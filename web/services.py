"""What the request handlers use, wired once by `create_app`."""

from collections.abc import Callable
from dataclasses import dataclass

import redis
from flask import current_app

from app.allowlist import Allowlist
from app.config import Settings
from app.runs import RunStore
from app.workers import WorkerRegistry


@dataclass(frozen=True)
class Services:
    settings: Settings
    runs: RunStore
    colours: RunStore
    registry: WorkerRegistry
    allowlist: Allowlist
    enqueue: Callable[[str, str], None]  # (task name, job id)
    redis: redis.Redis
    sha: str


def services() -> Services:
    """The current app's services."""
    return current_app.extensions["greenbar"]  # type: ignore[no-any-return]
