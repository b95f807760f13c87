"""One admission rule for all work (runs, colours, pulls): a queue takes a job only while fewer
than `max_waiting` wait in it, decided and reserved in one step.

Checking the depth and then enqueueing, as two steps, let concurrent requests all pass the
check (a depth of 204 against 200 was seen). A Lua script counts what waits in the queue's
lists plus what is being sent to it right now, and reserves a place in the same step; the
place is given back once the job is in the queue (or failed to get there). A web process that
dies between the two leaves a reservation that expires after RESERVED_SECONDS.

Key: greenbar:admitting:<queue>   jobs admitted and not yet in their queue (a counter, TTL)
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from app.errors import Busy
from app.externals.store import Client, translated
from app.jobs.queue_depth import queue_keys

RESERVED_SECONDS = 30
ADMIT = """
local waiting = 0
for i = 1, #KEYS - 1 do waiting = waiting + redis.call('LLEN', KEYS[i]) end
waiting = waiting + tonumber(redis.call('GET', KEYS[#KEYS]) or '0')
if waiting >= tonumber(ARGV[1]) then return -1 - waiting end
redis.call('INCR', KEYS[#KEYS])
redis.call('EXPIRE', KEYS[#KEYS], ARGV[2])
return waiting
"""


class Admission:
    """Args: client: the broker's Redis. max_waiting: the most jobs a queue may hold waiting
    (0: no limit). retry_after: seconds a refused client is told to wait."""

    def __init__(self, client: Client, max_waiting: int, retry_after: int) -> None:
        self._redis = client
        self._max = max_waiting
        self._retry_after = retry_after
        self._admit: Callable[..., int] = client.register_script(ADMIT)

    @contextmanager
    def admitted(self, queue: str, what: str = "jobs") -> Iterator[None]:
        """Holds a place in `queue` while the block sends the job there.

        Raises:
            Busy: `max_waiting` wait there already; the message names the queue.
        """
        if self._max <= 0:
            yield
            return
        reserved = f"greenbar:admitting:{queue}"
        with translated():
            waiting = int(
                self._admit(keys=[*queue_keys(queue), reserved], args=[self._max, RESERVED_SECONDS])
            )
        if waiting < 0:
            raise Busy(f"{-1 - waiting} {what} are waiting in {queue} already", self._retry_after)
        try:
            yield
        finally:
            with translated():
                self._redis.decr(reserved)
