"""greenbar's rag-lambda evaluator: the only place a rag lambda ever runs.

It runs in a container of greenbar/evaluator that has no network, no secret, no volume, a
read-only root, a non-root user and small pid and memory limits: that container is the
boundary. The restrictions below (a few builtins, only `re` importable, a time limit) are
defence in depth, and keep an honest mistake a clear `faulty`.

IN   one JSON object per line on stdin:
     {"key", "language": "python"|"ruby", "source": str|null, "stdout", "stderr",
      "status": int, "limit": seconds}
     `source` null means "the lambda compiled here earlier under `key`".
RUN  a Python lambda defines colour(stdout, stderr, status); it is compiled once per key and
     called under an interval timer of `limit` seconds (compiling and calling share it). A Ruby
     lambda goes, as the same line, to a Ruby child (rag.rb) started on first need; a child that
     does not answer within `limit` and a little more is killed and started afresh next time.
OUT  one JSON object per line on stdout, one per request, in order:
     {"outcome": "red"|"amber"|"green"|"faulty", "log": str}, or {"unknown": true} when `source`
     was null and `key` is not compiled here. `"retire": true` is added when the call left a
     process behind: the host then replaces this container.

Usage: python3 -I -S evaluate.py [MEMORY_BYTES [SOCKET_DIRECTORY]]
  MEMORY_BYTES is the address-space limit of each process. Given SOCKET_DIRECTORY (the resident
  evaluator's own volume), it also listens there on a unix socket only its uid (and root) can
  reach, and serves the first of the two channels the host uses: a connection there (the host
  reaches the volume's mountpoint, and skips dockerd) or a line on stdin (it does not). Either
  way stdin stays the lifeline: its end ends the evaluator.
"""

import builtins
import json
import os
import re
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

FUNCTION = "colour"
FILENAME = "red_amber_green.py"
COLOURS = ("red", "amber", "green")
SHOWN_CHARS = 500  # of an error message or a wrong answer, in a log
RUBY = ["ruby", "--disable-gems", str(Path(__file__).with_name("rag.rb"))]
# The Ruby child keeps its own time limit; this much more, and it is killed.
RUBY_SLACK_SECONDS = 0.3
RUBY_REPLY_MAX_BYTES = 1 << 20
# A lambda that catches the timer's exception is interrupted again this often (seconds).
REPEAT_SECONDS = 0.05
# Looking for processes a lambda left behind costs a listing of /proc, about a tenth of a call:
# it is done after a new lambda's first call and after a faulty one, and otherwise at most this
# often (seconds). A leftover in the resident evaluator wastes its resources but cannot reach
# anything a lambda there could not: its lambdas are all images' own.
CHECK_EVERY_SECONDS = 0.05
SOCKET_NAME = "evaluator.sock"  # app/colour/evaluator/socket_channel.py connects to it

SAFE_BUILTINS = {
    name: getattr(builtins, name)
    for name in (
        "abs all any bool bytes chr dict enumerate filter float frozenset int isinstance "
        "issubclass iter len list map max min next ord range repr reversed round set slice "
        "sorted str sum tuple zip ArithmeticError AttributeError Exception IndexError "
        "KeyError LookupError RuntimeError TypeError ValueError ZeroDivisionError"
    ).split()
}


def _only_re(name, *args, **kwargs):
    if name != "re":
        raise ImportError(f"a rag lambda may import only re, not {name}")
    return re


SAFE_BUILTINS["__import__"] = _only_re


class LambdaTimeout(BaseException):
    """Raised by the timer inside a lambda past its limit (BaseException: `except Exception`
    in the lambda does not catch it)."""


def _alarm(signum, frame):
    raise LambdaTimeout()


def _said(error):
    message = str(error)
    return f"{type(error).__name__}: {message}"[:SHOWN_CHARS] if message else type(error).__name__


def faulty(why, source):
    """A faulty verdict whose log says why and shows the source, as greenbar's logs do."""
    log = f"{why}\n--- rag lambda source ---\n{source}" if source else why
    return {"outcome": "faulty", "log": log}


def timeout(limit, source):
    return faulty(f"the rag lambda took longer than its time limit of {limit} s", source)


def _compiled(source):
    """(function, "") or (None, why); runs under the caller's timer."""
    namespace = {"__builtins__": SAFE_BUILTINS, "re": re}
    try:
        exec(compile(source, FILENAME, "exec"), namespace)
    except LambdaTimeout:
        raise
    except BaseException as error:  # SyntaxError, SystemExit...: all "does not compile"
        return None, f"the rag lambda does not compile: {_said(error)}"
    function = namespace.get(FUNCTION)
    if not callable(function):
        return None, f"the rag lambda defines no function {FUNCTION}()"
    return function, ""


def _called(function, request, source):
    """The verdict of one call; runs under the caller's timer (a hostile answer's repr too)."""
    try:
        answer = function(request["stdout"], request["stderr"], request["status"])
        if type(answer) is str and answer in COLOURS:  # not a subclass with its own __eq__
            return {"outcome": answer, "log": ""}
        shown = repr(answer)[:SHOWN_CHARS]
    except LambdaTimeout:
        raise
    except BaseException as error:
        return faulty(f"the rag lambda raised {_said(error)}", source)
    return faulty(f"the rag lambda returned {shown}, not red, amber or green", source)


class Python:
    """Python lambdas by key, each compiled in a namespace of its own."""

    def __init__(self):
        self._lambdas = {}  # key -> (source, function or None, why it failed)

    def answer(self, request):
        key, source, limit = request["key"], request["source"], float(request["limit"])
        if source is None and key not in self._lambdas:
            return {"unknown": True}
        signal.setitimer(signal.ITIMER_REAL, limit, REPEAT_SECONDS)
        try:
            if source is not None:
                self._lambdas[key] = (source, *_compiled(source))
            source, function, failure = self._lambdas[key]
            if function is None:
                return faulty(failure, source)
            return _called(function, request, source)
        except LambdaTimeout:
            return timeout(limit, source)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)


class Ruby:
    """The Ruby child: started on first need, killed when it does not answer in time."""

    def __init__(self):
        self.process = None
        self._sources = {}  # key -> source, for the logs of calls that never came back

    def answer(self, request, line):
        key, source, limit = request["key"], request["source"], float(request["limit"])
        if source is not None:
            self._sources[key] = source
        source = self._sources.get(key, "")
        if self.process is None:
            self.process = subprocess.Popen(
                RUBY, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
            )
        try:
            self.process.stdin.write(line)
        except OSError:
            return self._ended(source)
        reply = self._reply(time.monotonic() + limit + RUBY_SLACK_SECONDS)
        if reply is None:
            self.stop()
            return timeout(limit, source)
        if reply == b"":
            return self._ended(source)
        try:
            said = json.loads(reply)
        except ValueError:
            said = None
        if not isinstance(said, dict):
            self.stop()
            return faulty(f"the Ruby evaluator answered {reply[:SHOWN_CHARS]!r}", source)
        return said

    def stop(self):
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def _ended(self, source):
        self.stop()
        return faulty("the Ruby evaluator ended while evaluating the rag lambda", source)

    def _reply(self, deadline):
        """One line from the child; b"" if it ended, None if the deadline passed first."""
        out, fd = bytearray(), self.process.stdout.fileno()
        while not out.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk or len(out) + len(chunk) > RUBY_REPLY_MAX_BYTES:
                return b""
            out += chunk
        return bytes(out)


def _processes():
    return {int(name) for name in os.listdir("/proc") if name.isdigit()}


class Evaluator:
    """Answers requests, one at a time, in order."""

    def __init__(self):
        self._python = Python()
        self._ruby = Ruby()
        self._expected = _processes()  # the container's init and this process
        self._checked = time.monotonic()

    def answer(self, line):
        request = {}
        try:
            request = json.loads(line)
            reply = self._answer(request, line)
        except LambdaTimeout:  # the timer fired just as a call ended
            reply = faulty("the rag lambda took longer than its time limit", "")
        except Exception as error:
            reply = faulty(f"the evaluator could not read the request: {_said(error)}", "")
        compiled = isinstance(request, dict) and request.get("source") is not None
        if self._left_behind(compiled or reply.get("outcome") == "faulty"):
            reply["retire"] = True
        return reply

    def _answer(self, request, line):
        language = request["language"]
        if language == "python":
            return self._python.answer(request)
        if language == "ruby":
            return self._ruby.answer(request, line)
        return faulty(f"there is no rag lambda language {language!r}", "")

    def _left_behind(self, now):
        if not now and time.monotonic() - self._checked < CHECK_EVERY_SECONDS:
            return False
        self._checked = time.monotonic()
        ruby = self._ruby.process
        return bool(_processes() - self._expected - ({ruby.pid} if ruby else set()))


def _listening(directory):
    """A listening unix socket in `directory`, or None where none can be made (no volume)."""
    path = os.path.join(directory, SOCKET_NAME)
    listener = socket.socket(socket.AF_UNIX)
    old = os.umask(0o177)  # the socket's mode 0600: this uid, and the worker as root
    try:
        listener.bind(path)
        listener.listen(1)
    except OSError as error:
        print(f"evaluator: no socket at {path}: {error}; answering on stdin", file=sys.stderr)
        listener.close()
        return None
    finally:
        os.umask(old)
    return listener


def _connection(listener, path):
    """The host's connection, or None when its first line came on stdin instead."""
    readable, _, _ = select.select([0, listener], [], [])
    connection = listener.accept()[0] if listener in readable and 0 not in readable else None
    # One client only: once it is chosen nobody else (no later lambda) finds a socket there.
    listener.close()
    os.unlink(path)
    return connection


def _lifeline():
    """Ends the evaluator when stdin ends: the host's attach closed (it closed it, or died)."""
    while os.read(0, 65536):
        pass
    os._exit(0)


def _serve(lines, send, evaluator):
    for line in iter(lines.readline, b""):
        send(json.dumps(evaluator.answer(line)).encode() + b"\n")


def main(argv):
    if len(argv) > 1:
        memory = int(argv[1])
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    listener = _listening(argv[2]) if len(argv) > 2 else None
    replies = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # whatever a lambda prints goes to stderr, never into the replies
    signal.signal(signal.SIGALRM, _alarm)
    evaluator = Evaluator()
    connection = None
    if listener is not None:
        connection = _connection(listener, os.path.join(argv[2], SOCKET_NAME))
    if connection is None:
        _serve(sys.stdin.buffer, replies.write, evaluator)
    else:
        threading.Thread(target=_lifeline, daemon=True).start()
        _serve(connection.makefile("rb"), connection.sendall, evaluator)
    # Not sys.exit: a thread a lambda started must not keep the container alive.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
