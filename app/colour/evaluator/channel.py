"""The attach socket of one evaluator container: a JSON line to its stdin, one line back.

The engine frames the container's output (`app.sandbox.stream.HEADER`: type 1 stdout,
type 2 stderr).
Replies come on stdout; stderr (what a lambda printed, a crash's traceback) is kept briefly for
diagnostics. Each call has a deadline and a byte cap of its own, and the framing state carries
over from call to call, because the container lives on.
"""

import contextlib
import socket
from collections.abc import Callable

from app.sandbox.stream import HEADER

STDOUT = 1
CHUNK_BYTES = 65536
DIAGNOSTICS_MAX_BYTES = 2048


class Broken(Exception):
    """The evaluator did not answer a call well: the container must go.

    Args:
        kind: `deadline` (no answer in time), `ended` (the stream closed: it died),
            `garbled` (the answer is not a verdict) or `cap` (too much came back).
        detail: what was seen, for the log.
    """

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


class Channel:
    """Calls over an attached, started container's socket.

    Args:
        sock: the raw attach socket (stdin, stdout and stderr).
        cap: the most bytes one call may bring back, stdout and stderr together.
        clock: monotonic seconds, the clock deadlines are on.
    """

    def __init__(self, sock: socket.socket, cap: int, clock: Callable[[], float]) -> None:
        self._sock = sock
        self._cap = cap
        self._clock = clock
        self._pending = bytearray()
        self._frame_type = STDOUT
        self._frame_left = 0
        self._received = 0
        self.diagnostics = bytearray()

    def ask(self, line: bytes, deadline: float) -> bytes:
        """Sends `line` (ending in a newline) and returns the one line that answers it.

        Raises:
            Broken: see the class.
        """
        self._received = 0
        self.diagnostics.clear()
        self._send(line, deadline)
        return self._reply(deadline)

    def fileno(self) -> int:
        return self._sock.fileno()

    def drain(self) -> int:
        """Reads, without waiting, what the container sent while it answers elsewhere (over
        its unix socket): all of it is diagnostics. Returns how many bytes came.

        Raises:
            Broken: `ended` when the stream closed.
        """
        self._sock.settimeout(0)  # a socket with a timeout waits for data even given DONTWAIT
        try:
            chunk = self._sock.recv(CHUNK_BYTES)
        except BlockingIOError:
            return 0
        except OSError as error:
            raise Broken("ended", str(error)) from None
        if not chunk:
            raise Broken("ended")
        self._pending += chunk
        while self._pending and (self._frame_left or len(self._pending) >= HEADER.size):
            if self._frame_left == 0:
                self._frame_type, self._frame_left = HEADER.unpack(self._take(HEADER.size, 0))
                continue
            data = self._take(self._frame_left, 0, at_least=1)
            self._frame_left -= len(data)
            self._keep(data)
        return len(chunk)

    def ended(self) -> bool:
        """Whether the container's end has closed: it died, or was removed, while idle."""
        return peer_closed(self._sock)

    def close(self) -> None:
        """Shuts the socket: the container's stdin closes, and the evaluator exits."""
        shut(self._sock)

    def _send(self, line: bytes, deadline: float) -> None:
        self._sock.settimeout(max(deadline - self._clock(), 0.001))
        try:
            self._sock.sendall(line)
        except TimeoutError:
            raise Broken("deadline") from None
        except OSError as error:
            raise Broken("ended", str(error)) from None

    def _reply(self, deadline: float) -> bytes:
        line = bytearray()
        while True:
            if self._frame_left == 0:
                self._frame_type, self._frame_left = HEADER.unpack(
                    self._take(HEADER.size, deadline)
                )
                continue
            data = self._take(min(self._frame_left, CHUNK_BYTES), deadline, at_least=1)
            self._frame_left -= len(data)
            if self._frame_type != STDOUT:
                self._keep(data)
                continue
            line += data
            end = line.find(b"\n")
            if end >= 0:
                if end != len(line) - 1 or self._frame_left:
                    raise Broken("garbled", f"more than one line came back: {bytes(line[:200])!r}")
                return bytes(line[:end])

    def _keep(self, data: bytes) -> None:
        room = DIAGNOSTICS_MAX_BYTES - len(self.diagnostics)
        self.diagnostics += data[: max(room, 0)]

    def _take(self, size: int, deadline: float, at_least: int | None = None) -> bytes:
        """`size` bytes (or, given `at_least`, whatever is there up to `size`)."""
        while len(self._pending) < (size if at_least is None else at_least):
            self._pending += self._receive(deadline)
        taken = bytes(self._pending[:size])
        del self._pending[:size]
        return taken

    def _receive(self, deadline: float) -> bytes:
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise Broken("deadline")
        self._sock.settimeout(remaining)
        try:
            chunk = self._sock.recv(CHUNK_BYTES)
        except TimeoutError:
            raise Broken("deadline") from None
        except OSError as error:
            raise Broken("ended", str(error)) from None
        if not chunk:
            raise Broken("ended")
        self._received += len(chunk)
        if self._received > self._cap:
            raise Broken("cap")
        return chunk


def peer_closed(sock: socket.socket) -> bool:
    """Whether the other end of `sock` has closed, looking without waiting or consuming."""
    sock.settimeout(0)
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False  # nothing to read: alive and quiet, as it should be between calls
    except OSError:
        return True


def shut(sock: socket.socket) -> None:
    """Shuts and closes `sock`."""
    # shutdown, not just close: docker-py's own file object on an attach socket keeps the
    # descriptor open past close(), and a kill while the engine still writes to an unread
    # attach can hang for 20 s or more.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
