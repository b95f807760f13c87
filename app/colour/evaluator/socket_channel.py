"""The resident evaluator's unix socket: a JSON line in, one line back, without dockerd.

Over the attach socket every byte of a call passes through dockerd, which alone cost a hit
0.5-1.6 ms at p99 (bench/colour.py); a unix socket round trip costs about 0.15 ms. The socket
lives in the evaluator's own volume, reached through the volume's mountpoint on this host (a
worker runs on its engine's host). The attach stays open beside it: its stdin is the
container's lifeline, and what lambdas print arrives on it, drained while a call waits, so a
flood counts towards the reply cap and never blocks the lambda.
"""

import os
import select
import socket
import stat
from collections.abc import Callable

from app.colour.evaluator.channel import CHUNK_BYTES, Broken, Channel, peer_closed, shut
from app.externals import clock

SOCKET_NAME = "evaluator.sock"  # images/evaluator/evaluate.py listens on it
WAIT_SECONDS = 2.0  # for the socket to appear once the container starts (it takes ~0.1 s)
LOOK_EVERY_SECONDS = 0.002


def connected(
    directory: str, uid: int, wait: float, times: clock.Clock = clock.REAL
) -> socket.socket | None:
    """A connection to the evaluator's socket in `directory` (the volume's mountpoint, as this
    process sees it), or None when the directory is not here, is not `uid`'s, or no socket of
    `uid` appears in it within `wait` seconds."""
    try:
        # The directory's contents are the container's: reach them through a descriptor,
        # never a path a symbolic link inside could redirect, and refuse anything but a
        # socket of the evaluator's uid. It connects before any lambda has run there.
        folder = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        if os.fstat(folder).st_uid != uid:  # not the evaluator's volume: it cannot listen there,
            return None  # and waiting would only cost time
        deadline = times.monotonic() + wait
        while times.monotonic() < deadline:
            found = _socket(folder, uid)
            if found is not None:
                return found
            times.sleep(LOOK_EVERY_SECONDS)
        return None
    finally:
        os.close(folder)


def _socket(folder: int, uid: int) -> socket.socket | None:
    try:
        found = os.stat(SOCKET_NAME, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if not stat.S_ISSOCK(found.st_mode) or found.st_uid != uid:
        return None
    sock = socket.socket(socket.AF_UNIX)
    try:
        # Through /proc: a mountpoint's path can be longer than a socket address may be.
        sock.connect(f"/proc/self/fd/{folder}/{SOCKET_NAME}")
    except OSError:  # bound, not yet listening
        sock.close()
        return None
    sock.setblocking(False)
    return sock


class SocketChannel:
    """Calls over the evaluator's unix socket, beside its attach (the lifeline).

    Args:
        sock: the connected, non-blocking unix socket.
        lifeline: the container's attach channel.
        cap: the most bytes one call may bring back, reply and printed output together.
        clock: monotonic seconds, the clock deadlines are on.
    """

    def __init__(
        self, sock: socket.socket, lifeline: Channel, cap: int, clock: Callable[[], float]
    ) -> None:
        self._sock = sock
        self._lifeline = lifeline
        self._cap = cap
        self._clock = clock
        self._received = 0
        self._readable = select.poll()
        self._readable.register(sock, select.POLLIN)
        self._readable.register(lifeline.fileno(), select.POLLIN)
        self._writable = select.poll()
        self._writable.register(sock, select.POLLOUT)

    @property
    def diagnostics(self) -> bytearray:
        """What the lambda printed during the last call (its start, at most)."""
        return self._lifeline.diagnostics

    def ask(self, line: bytes, deadline: float) -> bytes:
        """Sends `line` (ending in a newline) and returns the one line that answers it.

        Raises:
            Broken: as `Channel.ask`.
        """
        self._received = 0
        self._lifeline.diagnostics.clear()
        self._send(memoryview(line), deadline)
        return self._reply(deadline)

    def ended(self) -> bool:
        """Whether the container's end has closed: it died, or was removed, while idle."""
        return self._lifeline.ended() or peer_closed(self._sock)

    def close(self) -> None:
        """Closes both sockets: the container's stdin closes, and the evaluator exits."""
        shut(self._sock)
        self._lifeline.close()

    def _send(self, data: memoryview, deadline: float) -> None:
        while data:
            try:
                data = data[self._sock.send(data) :]
            except BlockingIOError:
                self._wait(self._writable, deadline)
            except OSError as error:
                raise Broken("ended", str(error)) from None

    def _reply(self, deadline: float) -> bytes:
        line = bytearray()
        while True:
            for fd, _ in self._wait(self._readable, deadline):
                if fd == self._sock.fileno():
                    line += self._chunk()
                else:
                    self._received += self._lifeline.drain()
            if self._received > self._cap:
                raise Broken("cap")
            end = line.find(b"\n")
            if end >= 0:
                if end != len(line) - 1:
                    raise Broken("garbled", f"more than one line came back: {bytes(line[:200])!r}")
                return bytes(line[:end])

    def _wait(self, poll: "select.poll", deadline: float) -> list[tuple[int, int]]:
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise Broken("deadline")
        return poll.poll(remaining * 1000 + 1)  # ms, rounded up: never a busy loop

    def _chunk(self) -> bytes:
        try:
            chunk = self._sock.recv(CHUNK_BYTES)
        except BlockingIOError:
            return b""
        except OSError as error:
            raise Broken("ended", str(error)) from None
        if not chunk:
            raise Broken("ended")
        self._received += len(chunk)
        return chunk
