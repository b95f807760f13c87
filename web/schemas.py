"""Request validation: every rule names its field."""

from collections.abc import Mapping
from typing import Any

from app.allowlist import Allowlist
from app.config import Settings
from app.errors import InvalidParameter, InvalidRequest
from app.files import validate

RUN_FIELDS = ("image", "files", "max_seconds")


def run_request(body: object, settings: Settings, allowlist: Allowlist) -> dict[str, Any]:
    """A validated run request: image, files, max_seconds.

    Raises:
        InvalidRequest: naming the field and the rule broken.
    """
    if not isinstance(body, dict):
        raise InvalidRequest("body", "must be a JSON object")
    for name in body:
        if name not in RUN_FIELDS:
            raise InvalidRequest(name, f"is not a known field (known: {', '.join(RUN_FIELDS)})")
    return {
        "image": allowlist.check(body.get("image")),
        "files": validate(body.get("files"), settings),
        "max_seconds": _max_seconds(body.get("max_seconds"), settings),
    }


def _max_seconds(value: object, settings: Settings) -> int:
    if value is None:
        return settings.max_seconds_default
    limit = settings.max_seconds_limit
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise InvalidRequest("max_seconds", f"must be a whole number from 1 to {limit}")
    return value


def wait_seconds(args: Mapping[str, str], settings: Settings) -> float:
    """The `wait` query parameter: 0 (do not wait) up to wait_max_seconds.

    Raises:
        InvalidParameter: not a number in range.
    """
    raw = args.get("wait")
    if raw is None:
        return 0.0
    limit = settings.wait_max_seconds
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= limit:  # also rejects nan
        raise InvalidParameter("wait", f"must be a number of seconds from 0 to {limit}")
    return seconds
