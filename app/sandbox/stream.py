"""The container's attached output, demultiplexed, read against a deadline and a byte cap.

Without a TTY the engine frames the stream: an 8-byte header (stream type, three zero bytes,
big-endian payload length) before each payload. Type 1 is the supervisor's stdout, which
carries the result; type 2 is its own stderr, kept (briefly) for diagnostics.
"""

import socket
import struct
from collections.abc import Callable

HEADER = struct.Struct(">BxxxI")
DIAGNOSTICS_MAX_BYTES = 4096
CHUNK_BYTES = 65536


class DeadlinePassed(Exception):
    """The deadline came before the container finished writing."""


class CapExceeded(Exception):
    """The container wrote more than the host is willing to read."""


class OutputStream:
    """A file-like reader of the container's stdout payload, for `tarfile` in stream mode.

    Args:
        sock: the attached socket, already started.
        deadline: the moment (on `clock`) after which reading stops, seconds.
        cap: the most payload bytes read in all, stdout and stderr together.
        clock: a monotonic clock, seconds.
    """

    def __init__(
        self, sock: socket.socket, deadline: float, cap: int, clock: Callable[[], float]
    ) -> None:
        self._sock = sock
        self._deadline = deadline
        self._cap = cap
        self._clock = clock
        self._pending = bytearray()
        self._remaining_in_frame = 0
        self._frame_type = 1
        self._read_total = 0
        self.diagnostics = bytearray()
        self.ended = False
        self._unread = b""  # stdout bytes read past a marker, served first

    def skip_past(self, marker: bytes) -> bool:
        """Drops stdout up to and including the first `marker`; False if the stream ended
        without one.

        Raises:
            DeadlinePassed, CapExceeded: see the classes.
        """
        seen = bytearray()
        while not self.ended:
            seen += self._next_stdout(CHUNK_BYTES)
            found = seen.find(marker)
            if found >= 0:
                self._unread = bytes(seen[found + len(marker) :])
                return True
            del seen[: max(len(seen) - len(marker), 0)]  # keep a tail a marker may start in
        return False

    def read(self, size: int = -1) -> bytes:
        """Up to `size` stdout bytes (fewer only at end of stream).

        Raises:
            DeadlinePassed, CapExceeded: see the classes.
        """
        out = bytearray(self._unread[:size] if size >= 0 else self._unread)
        self._unread = self._unread[len(out) :]
        while (size < 0 or len(out) < size) and not self.ended:
            want = CHUNK_BYTES if size < 0 else size - len(out)
            out += self._next_stdout(want)
        return bytes(out)

    def _next_stdout(self, want: int) -> bytes:
        while True:
            if self._remaining_in_frame == 0:
                header = self._take(HEADER.size)
                if len(header) < HEADER.size:
                    self.ended = True
                    return b""
                self._frame_type, self._remaining_in_frame = HEADER.unpack(header)
                continue
            data = self._take(min(want, self._remaining_in_frame))
            if not data:
                self.ended = True
                return b""
            self._remaining_in_frame -= len(data)
            if self._frame_type == 1:
                return data
            room = DIAGNOSTICS_MAX_BYTES - len(self.diagnostics)
            self.diagnostics += data[: max(room, 0)]

    def _take(self, n: int) -> bytes:
        while len(self._pending) < n:
            chunk = self._receive()
            if not chunk:
                break
            self._pending += chunk
        taken = bytes(self._pending[:n])
        del self._pending[:n]
        return taken

    def _receive(self) -> bytes:
        remaining = self._deadline - self._clock()
        if remaining <= 0:
            raise DeadlinePassed()
        self._sock.settimeout(remaining)
        try:
            chunk = self._sock.recv(CHUNK_BYTES)
        except TimeoutError:
            raise DeadlinePassed() from None
        self._read_total += len(chunk)
        if self._read_total > self._cap:
            raise CapExceeded()
        return chunk
