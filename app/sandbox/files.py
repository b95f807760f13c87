"""The learner's files (and a run's stdin) going in: validation of names and sizes
(app/sandbox/feed.py sends them).

A file is text (a JSON string, sent as its UTF-8 bytes) or `{"content": BASE64, "encoding":
"base64"}` (RFC 4648's standard alphabet, padded, no line breaks), sent as the bytes it
decodes to. A request keeps each as it came, so its record stays JSON; `file_bytes` decodes.
"""

import base64
import re
from collections.abc import Mapping
from typing import Literal, TypedDict

from app.config import Settings
from app.errors import InvalidRequest

NAME_COMPONENT_MAX_BYTES = 255
STDIN_MAX_BYTES = 64 << 20  # an I frame, as the supervisor bounds it (INPUT_MAX_BYTES)
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
BASE64_RULE = "content must be base64: RFC 4648's standard alphabet, padded, no line breaks"


class Encoded(TypedDict):
    """A file sent as base64: any bytes, binary ones included."""

    content: str
    encoding: Literal["base64"]


Content = str | Encoded  # a file's content as a request carries it


def validate(files: object, settings: Settings, exercise: bool = False) -> dict[str, Content]:
    """Checks the `files` field of a run request.

    Args:
        files: the decoded JSON value, expected to map relative names to text or to
            base64-encoded content (`Encoded`), whose decoded bytes count towards the total.
        settings: the limits on count, total size and depth.
        exercise: the run names an exercise: greenbar writes its cyber-dojo.sh
            (app/sandbox/exercism.py), so the files must not hold one.

    Returns:
        The same files as a plain dict.

    Raises:
        InvalidRequest: naming the field (`files` or `files[NAME]`) and the rule broken.
    """
    if not isinstance(files, dict):
        raise InvalidRequest("files", "must be an object mapping file names to text")
    if exercise and "cyber-dojo.sh" in files:
        raise InvalidRequest("files[cyber-dojo.sh]", "greenbar writes it for a run of an exercise")
    if not exercise and "cyber-dojo.sh" not in files:
        raise InvalidRequest("files", "must contain cyber-dojo.sh")
    if len(files) > settings.files_max_count:
        raise InvalidRequest("files", f"at most {settings.files_max_count} files")
    total = 0
    directories = _directories(files)
    for name, content in files.items():
        _check_name(name, settings.files_max_depth)
        if name in directories:
            raise InvalidRequest(f"files[{name}]", "is also the directory of another file")
        total += len(_sent_bytes(name, content))
    if total > settings.files_max_kib * 1024:
        raise InvalidRequest("files", f"at most {settings.files_max_kib} KiB in all")
    return dict(files)


def validate_stdin(stdin: str, settings: Settings) -> str:
    """Checks a run request's `stdin`: bounded as a file is, by files_max_kib (and by what
    one frame of the supervisor's request may carry).

    Raises:
        InvalidRequest: naming `stdin` and the bound.
    """
    kib = stdin_max_kib(settings)
    if len(encoded(stdin)) > kib * 1024:
        raise InvalidRequest("stdin", f"at most {kib} KiB")
    return stdin


def stdin_max_kib(settings: Settings) -> int:
    """The most standard input a run (or all its cases together) may carry, KiB: what a file
    may hold, and what one frame to the supervisor can."""
    return min(settings.files_max_kib, STDIN_MAX_BYTES // 1024)


def validate_name(name: str, field: str, settings: Settings) -> str:
    """Checks a name in /sandbox that is not a file sent (a run's `junit_xml`) as a file's
    name is checked.

    Raises:
        InvalidRequest: naming `field` and the rule broken.
    """
    _check_name(name, settings.files_max_depth, field)
    return name


def file_bytes(content: Content) -> bytes:
    """A file's bytes as the sandbox gets them: text as UTF-8, base64 decoded.

    Raises:
        ValueError: the base64 is invalid (`validate` refuses it long before).
    """
    if isinstance(content, str):
        return encoded(content)
    return base64.b64decode(content["content"], validate=True)


def _sent_bytes(name: str, content: object) -> bytes:
    """The bytes of the file `name` as sent: its text as UTF-8, or its base64 decoded."""
    field = f"files[{name}]"
    if isinstance(content, str):
        return encoded(content)
    if not (
        isinstance(content, dict)
        and set(content) == {"content", "encoding"}
        and isinstance(content["content"], str)
    ):
        raise InvalidRequest(field, 'content must be a string or {"content", "encoding": "base64"}')
    if content["encoding"] != "base64":
        raise InvalidRequest(f"{field}[encoding]", "must be base64")
    try:
        return base64.b64decode(content["content"], validate=True)
    except ValueError:  # binascii.Error, or a character that is not ASCII
        raise InvalidRequest(field, BASE64_RULE) from None


def _check_name(name: str, max_depth: int, field: str = "") -> None:
    field = field or f"files[{name}]"
    if not name or name.startswith("/"):
        raise InvalidRequest(field, "name must be a non-empty relative path")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(field, "name must be valid UTF-8") from None
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidRequest(field, "name must not contain NUL or control characters")
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise InvalidRequest(field, "name must not contain empty, '.' or '..' components")
    if any(len(part.encode("utf-8")) > NAME_COMPONENT_MAX_BYTES for part in parts):
        raise InvalidRequest(field, f"each name component at most {NAME_COMPONENT_MAX_BYTES} bytes")
    if len(parts) > max_depth:
        raise InvalidRequest(field, f"at most {max_depth} directories deep")


def encoded(content: str) -> bytes:
    """A file's bytes as the sandbox sees them (lone surrogates from JSON become U+FFFD)."""
    return LONE_SURROGATE.sub("\ufffd", content).encode("utf-8")


def _directories(files: Mapping[str, str]) -> set[str]:
    return {
        "/".join(parts[:depth])
        for parts in (name.split("/") for name in files)
        for depth in range(1, len(parts))
    }
