"""Output bytes into JSON-safe text: cut at a limit, invalid UTF-8 replaced, NUL kept."""

import codecs
from typing import TypedDict


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
