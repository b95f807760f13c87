"""The long-lived evaluator of one worker process, for images' own lambdas.

An image's lambda is a trusted rule in untrusted code: whoever can push a tag of an allowed
image wrote it. It runs in an evaluator container, kept for the process's life so a call costs
a round trip on a unix socket in the container's own volume
(`app.colour.evaluator.socket_channel`), not
a container start; where this process cannot reach the volume's mountpoint (a remote or rootless
engine), on the attach socket. Lambdas of different images share it; a client's copy never does
(`app.colour.evaluator.one_shot`).
"""

import logging
import os
import threading
from collections.abc import Callable

from app.colour.evaluator import container
from app.colour.evaluator.channel import Broken, Channel
from app.colour.evaluator.socket_channel import WAIT_SECONDS, SocketChannel, connected
from app.colour.evaluator.wire import Call, Reply
from app.colour.rag_lambda import Verdict
from app.config import Settings
from app.errors import EngineUnavailable, ImageMissing
from app.externals import clock, ids
from app.externals.engine import Engine

log = logging.getLogger(__name__)


class ResidentEvaluator:
    """One evaluator container, created on first use and replaced after any call it did not
    answer well (past its deadline, garbled, dead) or when it asks to retire.

    Args:
        engine: this node's engine.
        settings: names the node and deployment in the container's labels.
        worker: the worker whose process owns it (a label: the reaper removes the evaluators
            of workers that are gone).
        clock: monotonic seconds.
        host_path: where this process finds a path of the engine's host (the socket volume's
            mountpoint); the same path by default, as a worker runs on its engine's host.
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        worker: str = "",
        clock: Callable[[], float] = clock.monotonic,
        host_path: Callable[[str], str] = lambda path: path,
    ) -> None:
        self._engine = engine
        self._host_path = host_path
        self._said_attach = False  # the fallback to the attach socket is logged once
        self._settings = settings
        self._labels = container.labels(settings, worker=worker)
        self._clock = clock
        self._lock = threading.Lock()
        self._channel: Channel | SocketChannel | None = None
        self._name = ""
        self._owner = 0  # the pid that opened the channel: a forked child must not use it
        self._known: set[str] = set()  # keys this container has been sent the source of

    @property
    def name(self) -> str:
        """The current container's name, empty when there is none."""
        return self._name

    def colour(self, call: Call) -> Verdict:
        """The lambda's verdict; a failure of the evaluator is `faulty`, saying which.

        Raises:
            EngineUnavailable: the engine failed to start an evaluator.
        """
        with self._lock:
            try:
                return self._colour(call)
            except ImageMissing:
                return container.missing_image(self._settings.node, self._settings.evaluator_image)

    def close(self) -> None:
        """Ends the evaluator, if there is one (a worker process's shutdown)."""
        with self._lock:
            self._discard()

    def _colour(self, call: Call) -> Verdict:
        # A container that had served calls and ends under this one may have died idle just
        # before (the reaper, an engine restart): such a call is tried once more, afresh.
        retry = self._usable()
        while True:
            try:
                return self._answered(call)
            except Broken as error:
                verdict = self._failed(error, call)
                if error.kind != "ended" or not retry:
                    return verdict
                retry = False

    def _failed(self, error: Broken, call: Call) -> Verdict:
        ended = container.how_it_ended(self._engine, self._name)
        log.warning("evaluator %s replaced: %s", self._name, error)
        self._discard()
        return container.failure(error, call.limit, call.source, ended)

    def _answered(self, call: Call) -> Verdict:
        channel = self._open()
        known = call.key in self._known
        reply = Reply.decode(channel.ask(call.encode(with_source=not known), self._deadline(call)))
        if reply.verdict is None and known:  # it forgot (its Ruby child was replaced)
            reply = Reply.decode(channel.ask(call.encode(), self._deadline(call)))
        if reply.verdict is None:
            raise Broken("garbled", "it did not know a lambda it had just been sent")
        self._known.add(call.key)
        if reply.retire:
            log.warning("evaluator %s retired: a lambda left a process behind", self._name)
            self._discard()
        return reply.verdict

    def _usable(self) -> bool:
        """Whether there is an evaluator that served calls and is still there; a dead one goes."""
        if self._channel is None or self._owner != os.getpid():
            return False
        if self._channel.ended():
            log.warning("evaluator %s ended while idle; replacing it", self._name)
            self._discard()
            return False
        return True

    def _deadline(self, call: Call) -> float:
        return container.deadline(call.limit, self._clock)

    @property
    def over_socket(self) -> bool:
        """Whether the current evaluator answers over its unix socket (not the attach)."""
        return isinstance(self._channel, SocketChannel)

    def _open(self) -> Channel | SocketChannel:
        if self._channel is not None and self._owner == os.getpid():
            return self._channel
        self._channel, self._known = None, set()  # a parent's, if any, stays the parent's
        name = container.PREFIX + ids.token(8)
        image = self._settings.evaluator_image
        attach, source = container.opened_with_socket(
            self._engine, name, self._labels, self._clock, image
        )
        self._channel, self._name, self._owner = attach, name, os.getpid()
        sock = connected(self._host_path(source), container.UID, WAIT_SECONDS) if source else None
        if sock is not None:
            self._channel = SocketChannel(sock, attach, container.REPLY_CAP_BYTES, self._clock)
        elif not self._said_attach:
            self._said_attach = True
            log.warning(
                "evaluator %s: its volume's mountpoint %s is not reachable here, or no socket "
                "appeared there within %s s; "
                "calls go over the attach socket (slower: through dockerd)",
                name,
                source,
                WAIT_SECONDS,
            )
        return self._channel

    def _discard(self) -> None:
        if self._channel is None or self._owner != os.getpid():
            self._channel = None
            return
        self._channel.close()  # first: a kill while output is unread can hang
        self._channel = None
        try:
            self._engine.remove(self._name)
        except EngineUnavailable as error:  # it exits on its own once its stdin closes
            log.warning("could not remove evaluator %s: %s", self._name, error)
        self._name = ""
