"""The API's edge against slow clients: a request's body is read whole, within a deadline,
before Flask sees it.

gunicorn's gevent worker (web/gunicorn_conf.py) bounds the request line and headers by its
keep-alive time, but reads a body only when the application asks, at the client's pace: a
client sending one byte a minute held a request (and, under threads, a thread) for as long as
it liked, before authentication, which runs once the body is in. Here the body gets
`seconds` in all; a client that has not sent it by then is answered 408 (gunicorn then
discards what is left of the body within its keep-alive time, and closes).
"""

import io
import json
from collections.abc import Callable, Iterable
from typing import Any

import gevent

CHUNK_BYTES = 65536
Environ = dict[str, Any]
StartResponse = Callable[..., Any]
Wsgi = Callable[[Environ, StartResponse], Iterable[bytes]]


class BodyDeadline:
    """WSGI middleware reading each request's body within `seconds`.

    Args:
        app: the WSGI application behind it.
        seconds: the longest a body may take to arrive.
        max_bytes: the largest body read; a larger declared one is left to the application
            (Flask answers 413 without reading it).
    """

    def __init__(self, app: Wsgi, seconds: float, max_bytes: int) -> None:
        self._app = app
        self._seconds = seconds
        self._max_bytes = max_bytes

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        declared = _declared_length(environ)
        chunked = environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked"
        if (declared or chunked) and (declared or 0) <= self._max_bytes:
            body = self._read(environ["wsgi.input"], declared)
            if body is None:
                return _too_slow(start_response, self._seconds)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self._app(environ, start_response)

    def _read(self, stream: Any, declared: int | None) -> bytes | None:
        """The body (at most max_bytes + 1, so a chunked one over the limit is still a 413),
        or None when it did not arrive in time."""
        wanted = self._max_bytes + 1 if declared is None else declared
        parts: list[bytes] = []
        got = 0
        # gevent's Timeout interrupts the blocking read itself, not just the loop between reads.
        with gevent.Timeout(self._seconds, False):
            while got < wanted:
                chunk = stream.read(min(CHUNK_BYTES, wanted - got))
                if not chunk:
                    break
                parts.append(chunk)
                got += len(chunk)
            return b"".join(parts)
        return None


def _declared_length(environ: Environ) -> int | None:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    return length if length > 0 else None


def _too_slow(start_response: StartResponse, seconds: float) -> list[bytes]:
    message = f"the request's body did not arrive within {seconds:g} s"
    body = json.dumps({"error": {"status": 408, "message": message}}).encode()
    start_response(
        "408 Request Timeout",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]
