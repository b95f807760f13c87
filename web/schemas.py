"""Request validation: every rule names its field."""

import re
from collections.abc import Mapping
from typing import Any

from app.allowlist import Allowlist
from app.config import Settings
from app.errors import InvalidParameter, InvalidRequest
from app.files import validate
from app.katas import checked_kata
from app.tracks import TrackStore, checked_slug

RUN_FIELDS = ("image", "track", "version", "files", "max_seconds", "rag_lambda", "kata")
VERSION = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")  # a Docker tag
COLOUR_FIELDS = ("image", "stdout", "stderr", "status", "rag_lambda")
RAG_LAMBDA_MAX_BYTES = 65536
STATUS_RANGE = (-(2**31), 2**31 - 1)


def run_request(
    body: object, settings: Settings, allowlist: Allowlist, tracks: TrackStore
) -> dict[str, Any]:
    """A validated run request: image (named, or a track's version), files, max_seconds and
    optionally rag_lambda and kata.

    Raises:
        InvalidRequest: naming the field and the rule broken.
    """
    body = _object(body, RUN_FIELDS)
    return {
        **_image_or_track(body, allowlist, tracks),
        "files": validate(body.get("files"), settings),
        "max_seconds": _max_seconds(body.get("max_seconds"), settings),
        **_rag_lambda(body),
        **({"kata": checked_kata(body["kata"])} if "kata" in body else {}),
    }


def _image_or_track(
    body: dict[str, Any], allowlist: Allowlist, tracks: TrackStore
) -> dict[str, str]:
    if ("image" in body) == ("track" in body):
        raise InvalidRequest("image", "name either an image or a track, not both")
    if "track" not in body:
        if "version" in body:
            raise InvalidRequest("version", "may only pin a version of a track")
        return {"image": allowlist.check(body["image"])}
    track, version = checked_slug(body["track"]), body.get("version")
    if version is not None and not (isinstance(version, str) and VERSION.match(version)):
        raise InvalidRequest("version", "must be an image tag")
    pinned = {"version": version} if version is not None else {}
    return {"image": allowlist.check(tracks.resolve(track, version)), "track": track, **pinned}


def colour_request(body: object, allowlist: Allowlist) -> dict[str, Any]:
    """A validated colour request: image, stdout, stderr, status and optionally rag_lambda.

    Raises:
        InvalidRequest: naming the field and the rule broken.
    """
    body = _object(body, COLOUR_FIELDS)
    for name in ("stdout", "stderr"):
        if not isinstance(body.get(name), str):
            raise InvalidRequest(name, "must be a string")
    status = body.get("status")
    if isinstance(status, bool) or not isinstance(status, int):
        raise InvalidRequest("status", "must be an integer")
    if not STATUS_RANGE[0] <= status <= STATUS_RANGE[1]:
        raise InvalidRequest("status", "must fit in 32 bits")
    return {
        "image": allowlist.check(body.get("image")),
        "stdout": body["stdout"],
        "stderr": body["stderr"],
        "status": status,
        **_rag_lambda(body),
    }


def pull_request(body: object, allowlist: Allowlist) -> str:
    """The image of a validated pull request.

    Raises:
        InvalidRequest: naming the field and the rule broken.
    """
    return allowlist.check(_object(body, ("image",)).get("image"))


def _object(body: object, known: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequest("body", "must be a JSON object")
    for name in body:
        if name not in known:
            raise InvalidRequest(name, f"is not a known field (known: {', '.join(known)})")
    return body


def _rag_lambda(body: dict[str, Any]) -> dict[str, str]:
    if "rag_lambda" not in body:
        return {}
    source = body["rag_lambda"]
    if not isinstance(source, str):
        raise InvalidRequest("rag_lambda", "must be a string of Python source")
    if len(source.encode("utf-8", "replace")) > RAG_LAMBDA_MAX_BYTES:
        raise InvalidRequest("rag_lambda", f"at most {RAG_LAMBDA_MAX_BYTES} bytes")
    return {"rag_lambda": source}


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
