"""Domain errors to HTTP: 4xx name the field and the rule; only a bug is a 500."""

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from app.errors import (
    Busy,
    Forbidden,
    InvalidParameter,
    InvalidRequest,
    KataBusy,
    ServiceUnavailable,
    Unauthorized,
    UnknownJob,
)

log = logging.getLogger(__name__)


def register(app: Flask) -> None:
    for kind, handler in _HANDLERS.items():
        app.register_error_handler(kind, handler)


Answer = tuple[Response, int] | tuple[Response, int, dict[str, str]]


def answer(error: Exception) -> Answer:
    """What the app answers to `error`, for a blueprint that tells errors in a shape of its
    own (web/cyber_dojo.py)."""
    for kind in type(error).__mro__:
        if kind in _HANDLERS:
            return _HANDLERS[kind](error)
    return _bug(error)  # every exception is an Exception: not reached


def _body(status: int, message: str, **extra: str) -> tuple[Response, int]:
    return jsonify({"error": {"status": status, "message": message, **extra}}), status


def _invalid(error: InvalidRequest) -> tuple[Response, int]:
    status = 400 if isinstance(error, InvalidParameter) else 422
    return _body(status, str(error), field=error.field, rule=error.rule)


def _unknown(error: UnknownJob) -> tuple[Response, int]:
    return _body(404, str(error))


def _unavailable(error: ServiceUnavailable) -> tuple[Response, int, dict[str, str]]:
    # Every 503 says when to try again, as a refusal for a full queue does.
    retry = str(current_app.extensions["greenbar"].settings.retry_after_seconds)
    return (*_body(503, str(error)), {"Retry-After": retry})


def _unauthorized(error: Unauthorized) -> tuple[Response, int, dict[str, str]]:
    return (*_body(401, str(error)), {"WWW-Authenticate": 'Bearer realm="greenbar"'})


def _forbidden(error: Forbidden) -> tuple[Response, int]:
    return _body(403, str(error))


def _busy(error: Busy) -> tuple[Response, int, dict[str, str]]:
    return (*_body(503, str(error)), {"Retry-After": str(error.retry_after)})


def _kata_busy(error: KataBusy) -> tuple[Response, int]:
    return _body(409, str(error), field="kata", rule="one run of a kata at a time")


def _http(error: HTTPException) -> tuple[Response, int]:
    status = error.code or 500
    messages = {
        400: "the body is not valid JSON",
        413: "the body is larger than the limit",
        415: "Content-Type must be application/json",
    }
    return _body(status, messages.get(status, error.description or error.name))


def _bug(error: Exception) -> tuple[Response, int]:
    log.exception("unhandled error in %s %s", request.method, request.path)
    return _body(500, "internal error; it has been logged")


_HANDLERS: dict[type[Exception], Callable[[Any], Answer]] = {
    InvalidRequest: _invalid,
    UnknownJob: _unknown,
    ServiceUnavailable: _unavailable,
    Unauthorized: _unauthorized,
    Forbidden: _forbidden,
    Busy: _busy,
    KataBusy: _kata_busy,
    HTTPException: _http,
    Exception: _bug,
}
