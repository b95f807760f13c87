"""Request validation: the schemas of web.contract first, then the rules no schema can say.
Every failure names its field."""

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from app.config import Settings
from app.errors import InvalidParameter, InvalidRequest
from app.images.allowlist import Allowlist
from app.images.tracks import TrackStore
from app.jobs.requests import ColourRequest, RunRequest
from app.sandbox import cases
from app.sandbox.files import validate, validate_name, validate_stdin
from app.sandbox.limits import RunLimits
from web.conform import conform
from web.contract import request_schemas


def run_request(
    body: object, settings: Settings, allowlist: Allowlist, tracks: TrackStore
) -> RunRequest:
    """A validated run request: image (named, or a track's version), files, max_seconds and
    optionally rag_lambda, kata, exercise, stdin, junit_xml, return_binary, cases with
    their compare, and the run's own limits (memory_mib, cpus, output_limit_kib) within its
    image's caps.

    Raises:
        InvalidRequest: naming the field and the rule broken.
    """
    run: dict[str, Any] = conform(body, request_schemas(settings)["RunRequest"])
    keys = ("rag_lambda", "kata", "exercise", "compare")
    optional: dict[str, Any] = {k: run[k] for k in keys if k in run}
    max_seconds = run.get("max_seconds", settings.max_seconds_default)
    if "stdin" in run:
        optional["stdin"] = validate_stdin(run["stdin"], settings)
    if "junit_xml" in run:
        optional["junit_xml"] = validate_name(run["junit_xml"], "junit_xml", settings)
    which: dict[str, Any] = _image_or_track(run, allowlist, tracks)
    limits = _limits(run, settings, which["image"])
    if "cases" in run:
        output_kib = (
            limits["output_limit_kib"] or settings.for_image(which["image"]).output_limit_kib
        )
        optional["cases"] = _cases(run, max_seconds, output_kib, settings)
    elif "compare" in run:
        raise InvalidRequest("compare", "only for a run with cases")
    return RunRequest(
        **which,
        files=validate(run["files"], settings, exercise="exercise" in run),
        max_seconds=max_seconds,
        return_binary=run.get("return_binary", False),
        **optional,
        **limits,
    )


def _cases(
    run: dict[str, Any], max_seconds: int, output_limit_kib: int, settings: Settings
) -> tuple[cases.Case, ...]:
    if "stdin" in run:
        raise InvalidRequest("stdin", "a run with cases gives each case its own stdin")
    if "exercise" in run:
        raise InvalidRequest("cases", "not for a run of an exercise: its tests are its cases")
    # Its cases tell a run's colour and its tests: a rule or a report would go unused.
    for unused in ("rag_lambda", "junit_xml"):
        if unused in run:
            raise InvalidRequest(unused, "not for a run with cases: its cases tell its colour")
    return cases.validated(run["cases"], max_seconds, output_limit_kib, settings)


def _limits(run: dict[str, Any], settings: Settings, image: str) -> dict[str, Any]:
    """The run's own limits, each within the caps of its image (named, or its track's)."""
    asked = RunLimits(
        run.get("memory_mib"),
        float(run["cpus"]) if "cpus" in run else None,
        run.get("output_limit_kib"),
    )
    return asdict(asked.within(settings.for_image(image), image))


def _image_or_track(
    body: dict[str, Any], allowlist: Allowlist, tracks: TrackStore
) -> dict[str, Any]:
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
