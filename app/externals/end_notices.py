"""One Redis subscription per process that tells waiting requests their job has ended.

A `?wait` that blocked a Redis connection each (BLMOVE) cost the API a connection and, under a
threaded server, a thread per waiting client: sixteen long polls stopped gunicorn's 2 x 8. Here
every waiter of a process shares one subscription to the channel `JobStore` publishes each
end on; a waiter holds an event, nothing more. Under gevent (web/gunicorn_conf.py) the
listening thread and the events are green.

A notice can be lost while the subscription reconnects (a Redis restart): each waiter looks at
its record again when the subscription is lost and when it is back, and every `RECHECK_SECONDS`
whatever happens. A lost notice costs latency, never a wrong answer.
"""

import logging
import threading
from collections.abc import Callable

import redis

from app.externals import clock
from app.externals.store import Client

log = logging.getLogger(__name__)

RECHECK_SECONDS = 30.0
RECONNECT_PAUSE_SECONDS = 1.0
LISTEN_POLL_SECONDS = 1.0


def channel(kind: str) -> str:
    """The channel `JobStore` publishes the id of each ended job of `kind` on."""
    return f"greenbar:{kind}:ended"


class EndNotices:
    """Wakes the waiters of a job when its end is published.

    Args:
        client: a Redis connection (its pool lends the subscription a connection of its own).
        kinds: the job kinds (`run`, `colour`) whose ends are listened for.
        clock: monotonic seconds.
    """

    def __init__(
        self,
        client: Client,
        kinds: tuple[str, ...] = ("run", "colour"),
        clock: Callable[[], float] = clock.monotonic,
    ) -> None:
        self._client = client
        self._channels = [channel(kind) for kind in kinds]
        self._clock = clock
        self._lock = threading.Lock()
        self._waiters: dict[str, set[threading.Event]] = {}
        self._subscribed = threading.Event()
        self._listener: threading.Thread | None = None

    def wait(self, kind: str, job_id: str, ended: Callable[[], bool], seconds: float) -> None:
        """Returns once `ended()` is true, or after `seconds`.

        `ended` is asked after the subscription is in place, so an end published between a
        caller's own look and this call is not missed.
        """
        deadline = self._clock() + seconds
        key = f"{kind}:{job_id}"
        woken = threading.Event()
        with self._lock:
            self._waiters.setdefault(key, set()).add(woken)
        try:
            self._listening(min(seconds, RECHECK_SECONDS))
            while not ended():
                left = deadline - self._clock()
                if left <= 0:
                    return
                woken.wait(min(left, RECHECK_SECONDS))
                woken.clear()
        finally:
            with self._lock:
                waiting = self._waiters.get(key, set())
                waiting.discard(woken)
                if not waiting:
                    self._waiters.pop(key, None)

    def waiting(self) -> int:
        """How many waiters there are (metrics, tests)."""
        with self._lock:
            return sum(len(events) for events in self._waiters.values())

    def _listening(self, seconds: float) -> None:
        """Starts the listener once per process and waits up to `seconds` for it to subscribe
        (without a subscription, the rechecks still end every wait)."""
        with self._lock:
            if self._listener is None or not self._listener.is_alive():
                self._listener = threading.Thread(
                    target=self._listen, name="greenbar-end-notices", daemon=True
                )
                self._listener.start()
        self._subscribed.wait(seconds)

    def _listen(self) -> None:
        """Listens until the subscription is lost with no one waiting (the next wait starts
        a listener again): a process whose Redis went away keeps no thread retrying it."""
        while True:
            try:
                self._listen_once()
            except (redis.RedisError, OSError) as error:
                log.warning("end notices: subscription lost (%s)", error)
            self._subscribed.clear()
            self._wake_all()  # they look at their records: an end may have been missed
            with self._lock:
                if not self._waiters:
                    self._listener = None
                    return
            clock.sleep(RECONNECT_PAUSE_SECONDS)

    def _listen_once(self) -> None:
        with self._client.pubsub() as subscription:
            subscription.subscribe(*self._channels)
            confirmed = 0
            while True:
                message = subscription.get_message(timeout=LISTEN_POLL_SECONDS)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    # Confirmed by Redis itself: from here on no end published is missed. Also
                    # seen again when redis-py reconnects and subscribes by itself: either way
                    # the waiters look at their records, for an end published in between.
                    confirmed += 1
                    if confirmed >= len(self._channels):
                        self._subscribed.set()
                    self._wake_all()
                elif message["type"] == "message":
                    self._wake(message["channel"], message["data"])

    def _wake(self, raw_channel: bytes, raw_id: bytes) -> None:
        kind = raw_channel.decode().split(":")[1]
        with self._lock:
            events = list(self._waiters.get(f"{kind}:{raw_id.decode()}", ()))
        for event in events:
            event.set()

    def _wake_all(self) -> None:
        with self._lock:
            events = [event for waiting in self._waiters.values() for event in waiting]
        for event in events:
            event.set()
