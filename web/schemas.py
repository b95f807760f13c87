"""Request validation: the schemas of web.contract first, then the rules no schema can say.
Every failure names its field."""

from collections.abc import Mapping
from typing import Any

from app.config import Settings
from app.errors import InvalidParameter, InvalidRequest
from app.images.allowlist import Allowlist
from app.images.tracks import TrackStore
from app.jobs.requests import ColourRequest, RunRequest
from app.sandbox.files import validate, validate_stdin
from web.contract import conform, request_schemas


def run_request(
    body: object, settings: Settings, allowlist: Allowlist, tracks: TrackStore
) -> RunRequest:
    """A validated run request: image (named, or a track's version), files, max_seconds and
    optionally rag_lambda, kata, exercise, stdin and return_binary.

    Raises:
        InvalidRequest: naming the field and the rule broken.
    """
    run: dict[str, Any] = conform(body, request_schemas(settings)["RunRequest"])
    optional: dict[str, Any] = {k: run[k] for k in ("rag_lambda", "kata", "exercise") if k in run}
    if "stdin" in run:
        optional["stdin"] = validate_stdin(run["stdin"], settings)
    return RunRequest(
        **_image_or_track(run, allowlist, tracks),
        files=validate(run["files"], settings, exercise="exercise" in run),
        max_seconds=run.get("max_seconds", settings.max_seconds_default),
        return_binary=run.get("return_binary", False),
        **optional,
    )


def _image_or_track(
    body: dict[str, Any], allowlist: Allowlist, tracks: TrackStore
) -> dict[str, str]:
    if ("image" in body) == ("track" in body):
        raise InvalidRequest("image", "name either an image or a track, not both")
    if "track" not in body:
        if "version" in body:
            raise InvalidRequest("version", "may only pin a version of a track")
        return {"image": allowlist.check(body["image"])}
    track, version = body["track"], body.get("version")
    pinned = {"version": version} if version is not None else {}
    return {"image": allowlist.check(tracks.resolve(track, version)), "track": track, **pinned}


def colour_request(body: object, settings: Settings, allowlist: Allowlist) -> ColourRequest:
    """A validated colour request: image, stdout, stderr, status and optionally rag_lambda.

    Raises:
        InvalidRequest: naming the field and the rule broken.
    """
    colour: dict[str, Any] = conform(body, request_schemas(settings)["ColourRequest"])
    return ColourRequest(**{**colour, "image": allowlist.check(colour["image"])})


def image_request(body: object, settings: Settings, allowlist: Allowlist) -> str:
    """The allowlisted image of a pull or a track deployment.

    Raises:
        InvalidRequest: naming the field and the rule broken.
    """
    asked: dict[str, Any] = conform(body, request_schemas(settings)["ImageRequest"])
    return allowlist.check(asked["image"])


def build_request(body: object, settings: Settings) -> tuple[str, str]:
    """The track and git reference of a build.

    Raises:
        InvalidRequest: naming the field and the rule broken.
    """
    asked: dict[str, Any] = conform(body, request_schemas(settings)["BuildRequest"])
    return asked["track"], asked["git_reference"]


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
