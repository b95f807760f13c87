"""What the contract runs in containers, each described once for both engines, and what tests
read back: the engine's framed attach stream and greenbar's supervisor result."""

import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass

from app.externals.memory_engine import Program
from app.sandbox.harvest import MAGIC

HEADER = struct.Struct(">B3sI")  # dockerd's frame header without a TTY: type, zeros, length


@dataclass(frozen=True)
class Described:
    """A container's program: `shell` for `sh -c` in greenbar/busybox-sh on dockerd, `played`
    by MemoryEngine instead."""

    shell: str
    played: Program


WRITES_BOTH = Described(
    "printf out; printf err >&2; exit 3",
    Program(stdout=b"out", stderr=b"err", exit_code=3, reads_stdin=False),
)
ECHOES_STDIN = Described("cat", Program(stdout=lambda stdin: stdin))
WAITS_FOR_A_LINE = Described("read line", Program())  # no one attached: it waits until removed
SLEEPS = Described("sleep 600", Program(reads_stdin=False, hangs=True))
# Its command substitution holds 64 MB in the shell, far over a 16 MiB limit.
EATS_MEMORY = Described(
    # One process that fills a 64 MB buffer, as the container's first: the kernel can only
    # kill it (a pipeline would let it pick one stage and the shell go on to exit 0).
    "exec dd if=/dev/zero of=/dev/null bs=64000000 count=1",
    Program(reads_stdin=False, oom_killed=True),
)


def demultiplexed(sock: socket.socket, seconds: float = 10) -> dict[int, bytes]:
    """Every payload of an attach stream until its end, joined by stream type; a header
    whose padding is not three zero bytes fails the test."""
    sock.settimeout(seconds)
    data = bytearray()
    deadline = time.monotonic() + seconds
    while chunk := sock.recv(65536):
        data += chunk
        assert time.monotonic() < deadline, "the stream did not end"
    streams: dict[int, bytes] = {}
    while data:
        kind, padding, length = HEADER.unpack(data[: HEADER.size])
        assert padding == b"\0\0\0" and kind in (1, 2), bytes(data[: HEADER.size])
        payload = bytes(data[HEADER.size : HEADER.size + length])
        assert len(payload) == length, "a frame shorter than its header says"
        streams[kind] = streams.get(kind, b"") + payload
        del data[: HEADER.size + length]
    return streams


def supervisor_result(
    status: int,
    stdout: bytes = b"",
    stderr: bytes = b"",
    created: dict[str, bytes] | None = None,
    timed_out: bool = False,
    metrics: dict[str, int] | None = None,
    usage: dict[str, int] | None = None,
    built: bool = False,
    cases: Sequence[tuple[dict[str, int], bytes, bytes]] = (),
) -> bytes:
    """What greenbar's supervisor writes on its stdout for a run that ended with `status`
    (supervisor/supervisor.h: OUT): the magic line, then TYPE, LENGTH, PAYLOAD frames;
    `metrics` and `usage` become the 'M' and 'U' frames' "key=value" lines when given;
    `built` a 'B' frame, and each of `cases` (meta, stdout, stderr) a 'Q' frame."""
    frames = [(b"S", str(status).encode())] + ([(b"T", b"")] if timed_out else [])
    frames += [(b"O", stdout), (b"R", stderr)] + ([(b"B", b"")] if built else [])
    for meta, out, err in cases:  # each case's 'Q' frame: META_LENGTH META OUT_LENGTH OUT ERR
        said = "".join(f"{k}={v}\n" for k, v in meta.items()).encode()
        head = struct.pack(">H", len(said)) + said + struct.pack(">I", len(out))
        frames.append((b"Q", head + out + err))
    if usage is not None:
        frames.append((b"U", "".join(f"{k}={v}\n" for k, v in usage.items()).encode()))
    for name, head in sorted((created or {}).items()):
        frames.append((b"N", struct.pack(">H", len(name.encode())) + name.encode() + head))
    if metrics is not None:
        frames.append((b"M", "".join(f"{k}={v}\n" for k, v in metrics.items()).encode()))
    frames.append((b"E", b""))
    return MAGIC + b"".join(kind + struct.pack(">I", len(p)) + p for kind, p in frames)
