"""A small JSON client of greenbar's REST API over urllib, with an optional bearer token."""

import http.client
import json
import urllib.error
import urllib.request
from typing import Any, NamedTuple

from cli.errors import ApiError

DEFAULT_URL = "http://127.0.0.1:4587"
USER_AGENT = "greenbar-cli"


class Reply(NamedTuple):
    """A successful answer: its HTTP status and its JSON body (an object)."""

    status: int
    body: dict[str, Any]


class Api:
    """greenbar's API at one base URL.

    Args:
        url: the API's base URL, e.g. `http://127.0.0.1:4587`.
        token: sent as `Authorization: Bearer <token>` when given.
        timeout: seconds to wait for one answer (longer than any `?wait=`).
    """

    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._token = token or None

    def get(self, path: str) -> Reply:
        """GETs `path` (with its query string), e.g. `/runs/<id>?wait=25`.

        Raises:
            ApiError: a 4xx or 5xx answer, a body that is not a JSON object, or no answer.
        """
        return self._send(self._request("GET", path, None))

    def post(self, path: str, body: dict[str, Any]) -> Reply:
        """POSTs `body` as JSON to `path`.

        Raises:
            ApiError: a 4xx or 5xx answer, a body that is not a JSON object, or no answer.
        """
        return self._send(self._request("POST", path, body))

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None
    ) -> urllib.request.Request:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return urllib.request.Request(self.url + path, data, headers, method=method)

    def _send(self, request: urllib.request.Request) -> Reply:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return Reply(response.status, _object(response.read(), response.status))
        except urllib.error.HTTPError as error:
            raise refusal(error.code, _read(error), error.headers.get("Retry-After")) from None
        except (OSError, http.client.HTTPException) as error:
            raise ApiError(None, f"no answer from {self.url}: {_reason(error)}") from error


def refusal(status: int, raw: bytes, retry_after: str | None = None) -> ApiError:
    """The error for a 4xx or 5xx answer: the API's `error.message` when the body has one.

    Args:
        status: the HTTP status.
        raw: the answer's body, `{"error": {"status", "message", "field"?, "rule"?}}`.
        retry_after: the `Retry-After` header, if any.
    """
    try:
        message = json.loads(raw)["error"]["message"]
    except (ValueError, TypeError, KeyError):
        message = None
    if not isinstance(message, str) or not message:
        message = http.client.responses.get(status, "error")
    return ApiError(status, message, retry_after)


def _object(raw: bytes, status: int) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ApiError(status, "the answer is not a JSON object")
    return body


def _read(error: urllib.error.HTTPError) -> bytes:
    try:
        return error.read()
    except OSError:
        return b""


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None) or error
    return str(reason) or type(error).__name__
