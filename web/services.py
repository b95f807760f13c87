"""What the request handlers use, wired once by `create_app`."""

from dataclasses import dataclass

from flask import current_app

from app.config import Settings
from app.externals.store import Client
from app.images.builds import Builds
from app.images.fan_out import PullFanOut
from app.jobs.submission import Jobs, Send
from app.wiring import Stores


@dataclass(frozen=True)
class Services:
    settings: Settings
    stores: Stores
    jobs: Jobs
    fan_out: PullFanOut
    builds: Builds
    send: Send
    redis: Client
    sha: str


def services() -> Services:
    """The current app's services."""
    return current_app.extensions["greenbar"]  # type: ignore[no-any-return]
