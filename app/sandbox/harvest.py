"""What comes OUT of a run: the result the supervisor writes on its stdout, read by a small
strict reader in bounded time and memory.

The magic line `GBOUT01`, then frames TYPE (1 byte), LENGTH (4 bytes, big-endian), PAYLOAD,
until `E` (see `supervisor/supervisor.h`). Only the supervisor can write this stream: the run
is another uid and cannot reach its descriptors or memory. The reader trusts it no further
than it must: every length is checked against the most that frame may hold before anything is
read, every count against what was asked for, and no general archive parser sees the bytes.
"""

import struct
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

MAGIC = b"GBOUT01\n"
NAME_MAX_BYTES = 4096
METRICS_MAX_BYTES = 1024
METRICS = ("oom_kills", "run_ms", "sandbox_kib", "created_truncated", "kept_truncated")
USAGE_MAX_BYTES = 256
USAGE = ("cpu_ms", "memory_peak_kib")  # from the container's cgroup; absent when unreadable
CASE_META_MAX_BYTES = 256
CASE_META = ("index", "status", "timed_out", "run_ms", "oom_kills", "started", "blocked", *USAGE)


class Readable(Protocol):
    def read(self, size: int = -1) -> bytes: ...


class Malformed(Exception):
    """The stream broke the protocol: a bug, or a supervisor that is not greenbar's."""


@dataclass(frozen=True)
class CaseHarvest:
    """One case's result as the supervisor wrote it: `meta` of CASE_META, heads of output."""

    meta: dict[str, int]
    stdout: bytes
    stderr: bytes


@dataclass
class Harvest:
    """The parsed result; `complete` only once the end frame came after a status."""

    status: int | None = None
    timed_out: bool = False
    stdout: bytes = b""
    stderr: bytes = b""
    changed: dict[str, bytes] = field(default_factory=dict)  # sent files, heads
    created: dict[str, bytes] = field(default_factory=dict)  # new or rewritten, heads
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # what a kata volume holds besides
    metrics: dict[str, int] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)  # of USAGE, those the cgroup told
    built: bool = False  # build.sh ran first: status, stdout and stderr are its
    cases: list[CaseHarvest] = field(default_factory=list)  # in order
    complete: bool = False
    problem: str = ""  # why an incomplete result is so, when the stream said


def _safe(name: str) -> bool:
    """Relative, with no empty, '.' or '..' component: it stays inside the sandbox."""
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and not ({"", ".", ".."} & set(parts))


@dataclass(frozen=True)
class Harvester:
    """Reads the result of runs sent the same number of files with the same limits.

    Args:
        out_cap: the most bytes of stdout, stderr or a file the supervisor keeps.
        sent: how many files were sent (each may come back changed or deleted).
        created_max: how many created files may come back.
        kept_max: how many kept names may come back.
        cases: how many cases were sent (each may come back once, in order).
    """

    out_cap: int
    sent: int
    created_max: int
    kept_max: int = 0
    cases: int = 0

    def harvest(self, stream: Readable) -> Harvest:
        """Reads one result from `stream`; an early end leaves it incomplete.

        Raises:
            Whatever `stream.read` raises (its deadline, its byte cap).
        """
        result, seen = Harvest(), Counter[str]()
        try:
            if stream.read(len(MAGIC)) != MAGIC:
                raise Malformed("it does not start with the result's magic line")
            while not result.complete:
                header = stream.read(5)
                if len(header) < 5:
                    return result
                kind, length = chr(header[0]), struct.unpack(">I", header[1:])[0]
                if length > self._bound(kind):
                    raise Malformed(f"a {kind!r} frame of {length} bytes")
                seen[kind] += 1
                if seen[kind] > self._most(kind):
                    raise Malformed(f"more than {self._most(kind)} {kind!r} frames")
                payload = stream.read(length)
                if len(payload) < length:
                    return result
                self._take(kind, payload, result)
        except Malformed as why:
            result.problem = f"the sandbox's result is malformed: {why}"
            result.complete = False
        return result

    def _bound(self, kind: str) -> int:
        bounds = {"S": 16, "T": 0, "O": self.out_cap, "R": self.out_cap, "E": 0}
        bounds.update({"X": NAME_MAX_BYTES, "K": NAME_MAX_BYTES, "M": METRICS_MAX_BYTES})
        bounds.update({"U": USAGE_MAX_BYTES, "B": 0})
        bounds["Q"] = 2 + CASE_META_MAX_BYTES + 4 + 2 * self.out_cap
        bounds.update(dict.fromkeys("CN", 2 + NAME_MAX_BYTES + self.out_cap))
        if kind not in bounds:
            raise Malformed(f"an unknown frame type {kind!r}")
        return bounds[kind]

    def _most(self, kind: str) -> int:
        """How many frames of `kind` a result may hold."""
        most = {"C": self.sent, "X": self.sent, "N": self.created_max, "K": self.kept_max}
        most["Q"] = self.cases
        return most.get(kind, 1)

    def _take(self, kind: str, payload: bytes, result: Harvest) -> None:
        if kind == "S":
            result.status = _number(payload)
        elif kind == "T":
            result.timed_out = True
        elif kind in "OR":
            setattr(result, "stdout" if kind == "O" else "stderr", payload)
        elif kind in "CN":
            name, head = _named(payload)
            if _safe(name):
                (result.changed if kind == "C" else result.created)[name] = head
        elif kind in "XK":
            if _safe(name := _name(payload)):
                (result.deleted if kind == "X" else result.kept).append(name)
        elif kind == "M":
            result.metrics = _metrics(payload, METRICS)
        elif kind == "B":
            result.built = True
        elif kind == "Q":
            result.cases.append(_case(payload, len(result.cases), self.out_cap))
        elif kind == "U":
            result.usage = _metrics(payload, USAGE)
            if any(value < 0 for value in result.usage.values()):
                raise Malformed("a negative measure")
        else:  # "E"
            if result.status is None:
                raise Malformed("it ended without an exit status")
            result.complete = True


def _number(raw: bytes) -> int:
    try:
        return int(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise Malformed(f"{raw[:16]!r} is not a number") from None


def _name(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")  # a lone surrogate would break strict JSON


def _named(payload: bytes) -> tuple[str, bytes]:
    if len(payload) < 2:
        raise Malformed("a file frame without a name")
    length = struct.unpack(">H", payload[:2])[0]
    if len(payload) < 2 + length:
        raise Malformed("a file frame shorter than its name")
    return _name(payload[2 : 2 + length]), payload[2 + length :]


def _case(payload: bytes, index: int, out_cap: int) -> CaseHarvest:
    """META_LENGTH(2) META STDOUT_LENGTH(4) STDOUT STDERR; the index must be the next one."""
    if len(payload) < 6:
        raise Malformed("a case frame too short")
    meta_length = struct.unpack(">H", payload[:2])[0]
    at = 2 + meta_length
    if meta_length > CASE_META_MAX_BYTES or len(payload) < at + 4:
        raise Malformed("a case frame shorter than its meta")
    meta = _metrics(payload[2:at], CASE_META)
    if any(value < 0 for key, value in meta.items() if key != "status"):
        raise Malformed("a negative measure of a case")
    out_length = struct.unpack(">I", payload[at : at + 4])[0]
    stdout, stderr = payload[at + 4 : at + 4 + out_length], payload[at + 4 + out_length :]
    if len(stdout) < out_length or max(out_length, len(stderr)) > out_cap:
        raise Malformed("a case's output longer than its frame or its cap")
    if meta.get("index") != index or not {"status", "timed_out", "run_ms"} <= meta.keys():
        raise Malformed(f"case {index}'s frame out of order or incomplete")
    return CaseHarvest(meta, stdout, stderr)


def _metrics(payload: bytes, known: tuple[str, ...]) -> dict[str, int]:
    found = {}
    for line in payload.decode("ascii", "replace").splitlines():
        key, _, value = line.partition("=")
        if key not in known or key in found:
            raise Malformed(f"an unknown or repeated metric {key!r}")
        found[key] = _number(value.encode())
    return found
