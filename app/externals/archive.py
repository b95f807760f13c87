"""One small regular file out of the engine's archive endpoint (`docker cp`), read with bounds.

What an image holds at a path is the image author's to choose: a directory, a pipe, a 1 GiB
file, a tar crafted to be slow to parse. So the path's stat header (X-Docker-Container-Path-Stat)
decides first whether reading is worth starting, and the tar body is parsed by the strict little
ustar reader below, which reads only what the one entry needs. Never `tarfile` on these bytes:
Python 3.11.7's has the quadratic pax-header regex of CVE-2024-6232.
"""

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass

BLOCK = 512
PAX_MAX_BYTES = 4096  # an extended header longer than this is refused, not parsed
STAT_MAX_CHARS = 8192
SYMLINK = 1 << 27
# The type bits of Go's os.FileMode, as the engine reports a path's mode.
KINDS = (
    (1 << 31, "directory"),
    (SYMLINK, "symbolic link"),
    (1 << 26, "device"),
    (1 << 25, "named pipe"),
    (1 << 24, "socket"),
    (1 << 21, "character device"),
    (1 << 19, "irregular file"),
)
REGULAR = (b"0", b"\0")


class Unreadable(Exception):
    """The archive is not the one small regular file expected; the message says how."""


@dataclass(frozen=True)
class PathStat:
    """What the engine says of a path before sending any of it."""

    size: int  # bytes
    mode: int  # Go's os.FileMode bits
    link_target: str  # for a symbolic link: its target, resolved inside the container

    @classmethod
    def decode(cls, header: str) -> "PathStat":
        """Reads the base64 JSON of X-Docker-Container-Path-Stat.

        Raises:
            Unreadable: the header is missing, too long or malformed.
        """
        if not header or len(header) > STAT_MAX_CHARS:
            raise Unreadable("the engine sent no usable stat header for it")
        try:
            stat = json.loads(base64.b64decode(header, validate=True))
            return cls(int(stat["size"]), int(stat["mode"]), str(stat.get("linkTarget") or ""))
        except (binascii.Error, ValueError, KeyError, TypeError) as error:
            raise Unreadable(f"its stat header is malformed ({error})") from None

    @property
    def kind(self) -> str:
        return next((name for bit, name in KINDS if self.mode & bit), "regular file")

    @property
    def is_link(self) -> bool:
        return bool(self.mode & SYMLINK)


def refusal(stat: PathStat, path: str, cap: int) -> str:
    """Why `path` is not read, from its stat alone; empty when it may be."""
    if stat.kind == "directory":
        return f"{path} is a directory, not a file"
    if stat.kind != "regular file":
        return f"{path} is a {stat.kind}, not a regular file"
    if stat.size > cap:
        return f"{path} is {size_text(stat.size)}, over the {size_text(cap)} it may be"
    return ""


def size_text(size: int) -> str:
    """`size` bytes for people: 1 GiB, 64 KiB, 68.36 KiB, 12 bytes."""
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.4g} {unit}"
    return f"{size} bytes"


def member(read: Callable[[int], bytes], cap: int) -> bytes:
    """The content of the archive's first entry, which must be a regular file of at most `cap`
    bytes. Reads at most `cap` bytes and a few blocks of headers through `read(n)` (which
    returns fewer than `n` bytes only at the end).

    Raises:
        Unreadable: anything else.
    """
    kind, size = _header(read(BLOCK))
    if kind == b"x":  # a pax extended header, which may give the next entry's size
        if size > PAX_MAX_BYTES:
            raise Unreadable(f"its archive has an extended header of {size} bytes")
        records = read(-(-size // BLOCK) * BLOCK)[:size]
        kind, size = _header(read(BLOCK))
        size = _pax_size(records, size)
    if kind not in REGULAR:
        raise Unreadable(f"its archive holds an entry of tar type {kind!r}, not a regular file")
    if size > cap:
        raise Unreadable(f"its archive entry is {size_text(size)}, over {size_text(cap)}")
    body = read(size)
    if len(body) != size:
        raise Unreadable("its archive ended before the file did")
    return body


def _header(block: bytes) -> tuple[bytes, int]:
    """(type flag, size) of a ustar header block, its checksum checked."""
    if len(block) != BLOCK:
        raise Unreadable("its archive ended inside a header")
    if block[257:262] != b"ustar":
        raise Unreadable("its archive is not a ustar archive")
    stored = _octal(block[148:156])
    if stored != sum(block[:148]) + 8 * ord(" ") + sum(block[156:]):
        raise Unreadable("its archive has a header with a wrong checksum")
    return block[156:157], _octal(block[124:136])


def _octal(field: bytes) -> int:
    digits = field.strip(b" \0")
    if field[:1] and field[0] & 0x80:  # GNU base-256: only for sizes far over any cap
        raise Unreadable("its archive has a header number in base-256")
    if not digits or digits.strip(b"01234567"):
        raise Unreadable(f"its archive has a header number that is not octal: {field!r}")
    return int(digits, 8)


def _pax_size(records: bytes, size: int) -> int:
    """The size a pax header gives (records "<length> <key>=<value>\\n"), else `size`.

    One pass, each record's length read before the record: linear in the header's length.
    """
    at = 0
    while at < len(records):
        space = records.find(b" ", at, at + 12)
        length = int(records[at:space]) if space > at and records[at:space].isdigit() else 0
        record = records[at : at + length]
        if length <= space - at or len(record) != length or not record.endswith(b"\n"):
            raise Unreadable("its archive has a malformed extended header")
        key, _, value = record[space - at + 1 : -1].partition(b"=")
        if key == b"size":
            if not value.isdigit():
                raise Unreadable("its archive has an extended header with a malformed size")
            size = int(value)
        at += length
    return size
