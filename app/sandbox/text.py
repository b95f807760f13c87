"""Output bytes into JSON-safe text: cut at a limit, invalid UTF-8 replaced, NUL kept; or,
for a binary file the request asked for, its bytes in base64."""

import base64
import codecs
from typing import Literal, TypedDict

SNIFF_BYTES = 8000  # as git and the supervisor (TEXT_SNIFF_BYTES): a NUL there means binary


class Text(TypedDict):
    """A cleaned, possibly truncated piece of output, as it appears in a result."""

    content: str
    truncated: bool


def cleaned(raw: bytes, limit: int) -> Text:
    """Decodes at most `limit` bytes of `raw`.

    Args:
        raw: bytes as captured; more than `limit` of them means the output was cut.
        limit: the most bytes kept.

    Returns:
        The text, with invalid UTF-8 replaced by U+FFFD; when cut, a multi-byte character
        split by the cut is dropped rather than shown as a replacement character.
    """
    truncated = len(raw) > limit
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    content = decoder.decode(raw[:limit], final=not truncated)
    return Text(content=content, truncated=truncated)


class Binary(TypedDict):
    """A file's bytes that are not UTF-8 text, in base64 (RFC 4648, padded), as a result
    holds it when the request asked for binary files (`return_binary`)."""

    content: str
    encoding: Literal["base64"]
    truncated: bool


def file_head(raw: bytes, limit: int, binary: bool) -> Text | Binary:
    """A changed or created file as a result shows it, at most `limit` of its bytes.

    Args:
        raw: the head the supervisor read; more than `limit` bytes means the file was cut.
        limit: the most bytes kept (of the file itself, before any base64).
        binary: the request asked for binary files: then a file that is not text (a NUL in
            its first SNIFF_BYTES, or not valid UTF-8) comes back exactly, base64; else every
            file is `cleaned` text, as ever.
    """
    if not binary or _is_text(raw, limit):
        return cleaned(raw, limit)
    kept = raw[:limit]
    return Binary(
        content=base64.b64encode(kept).decode("ascii"),
        encoding="base64",
        truncated=len(raw) > limit,
    )


def _is_text(raw: bytes, limit: int) -> bool:
    """No NUL in the first SNIFF_BYTES and valid UTF-8 up to `limit` (a character the cut
    splits aside): text that a JSON string carries exactly."""
    if b"\0" in raw[:SNIFF_BYTES]:
        return False
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        decoder.decode(raw[:limit], final=len(raw) <= limit)
    except UnicodeDecodeError:
        return False
    return True
