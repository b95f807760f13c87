"""greenbar's own record of every job (a run, a colour), in Redis: Celery reports PENDING for
ids it never saw, so only this record can tell "queued" from "unknown".

Keys (each with the result TTL), <kind> being `run` or `colour`:
    greenbar:<kind>:<id>          hash: state, image, node, times, result or error
    greenbar:<kind>:<id>:request  the request (files, settings), until a worker finishes it
    greenbar:<kind>:<id>:done     a one-element list, pushed when the job ends; waiters block on it
Channel greenbar:<kind>:ended carries the id of each job that ends (app/externals/end_notices.py).
"""

import json
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from app.errors import StoreUnavailable, UnknownJob
from app.externals import clock
from app.externals.end_notices import EndNotices, channel
from app.externals.store import Client, translated


class State(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    ERROR = "error"


FINAL = (State.DONE, State.ERROR)
END_RETRY_SECONDS = 30
END_RETRY_PAUSE_SECONDS = 0.5
Fields = dict[str | bytes, bytes | float | int | str]


class RunStore:
    """Job records of one kind in Redis.

    Args:
        client: a Redis connection (decode_responses=False).
        ttl: seconds a record lives after its last change.
        now: wall-clock seconds since the epoch.
        kind: `run` or `colour`; each kind has keys of its own.
        notices: the process's shared subscription to ends, for `wait`; without it a waiter
            blocks a Redis connection of its own.
    """

    def __init__(
        self,
        client: Client,
        ttl: int,
        now: Callable[[], float] = clock.wall,
        kind: str = "run",
        sleep: Callable[[float], None] = clock.sleep,
        notices: EndNotices | None = None,
    ) -> None:
        self._sleep = sleep
        self._notices = notices
        self._redis = client
        self._ttl = ttl
        self._now = now
        self.kind = kind

    def _key(self, run_id: str, part: str = "") -> str:
        return f"greenbar:{self.kind}:{run_id}{part}"

    def enqueue(self, run_id: str, request: dict[str, Any], owner: str = "") -> None:
        """Records a new run as queued, with the request a worker will need and the client
        that may read it (`owner`; empty: any)."""
        fields: Fields = {
            "state": State.QUEUED,
            "image": request["image"],
            "queued_at": self._now(),
            "owner": owner,
        }
        with translated(), self._redis.pipeline() as pipe:
            pipe.hset(self._key(run_id), mapping=fields)
            pipe.expire(self._key(run_id), self._ttl)
            pipe.set(self._key(run_id, ":request"), json.dumps(request), ex=self._ttl)
            pipe.execute()

    def request(self, run_id: str) -> dict[str, Any] | None:
        """The request of a run, or None once it has been finished or has expired."""
        with translated():
            raw = self._redis.get(self._key(run_id, ":request"))
        return None if raw is None else json.loads(raw)

    def start(self, run_id: str, node: str, worker: str) -> bool:
        """Marks the job running on `node` by `worker`.

        Returns:
            False if it was started before: its message came back because the worker that
            took it died. A job is never started twice.
        """
        key = self._key(run_id)
        with translated():
            if not self._redis.hsetnx(key, "started_at", self._now()):
                return False
            self._redis.hset(key, mapping={"state": State.RUNNING, "node": node, "worker": worker})
        return True

    def finish(self, run_id: str, result: dict[str, Any]) -> None:
        self._end(run_id, State.DONE, {"result": json.dumps(result)})

    def fail(self, run_id: str, reason: str) -> None:
        self._end(run_id, State.ERROR, {"error": reason})

    def _end(self, run_id: str, state: State, extra: Fields) -> None:
        """Records the end; a Redis that is restarting is waited for (END_RETRY_SECONDS), so a
        finished run is not left `running` by a moment without Redis."""
        fields: Fields = {**extra, "state": state.value, "finished_at": self._now()}
        for _ in range(int(END_RETRY_SECONDS / END_RETRY_PAUSE_SECONDS)):
            try:
                return self._write_end(run_id, state, fields)
            except StoreUnavailable:
                self._sleep(END_RETRY_PAUSE_SECONDS)
        self._write_end(run_id, state, fields)  # the last try: its failure is raised

    def _write_end(self, run_id: str, state: State, fields: Fields) -> None:
        with translated(), self._redis.pipeline() as pipe:
            pipe.hset(self._key(run_id), mapping=fields)
            pipe.expire(self._key(run_id), self._ttl)
            pipe.delete(self._key(run_id, ":request"))
            pipe.delete(self._key(run_id, ":done"))
            pipe.rpush(self._key(run_id, ":done"), state.value)
            pipe.expire(self._key(run_id, ":done"), self._ttl)
            pipe.publish(channel(self.kind), run_id)
            pipe.execute()

    def get(self, run_id: str) -> dict[str, Any]:
        """The run as clients see it: id, state, and result or error once final.

        Raises:
            UnknownJob: no such job was enqueued, or its record expired.
        """
        with translated():
            raw = self._redis.hgetall(self._key(run_id))
        if not raw:
            raise UnknownJob(self.kind, run_id)
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        # A record rewritten into an emptied Redis (a restart without persistence) may hold
        # only its end.
        view: dict[str, Any] = {
            "id": run_id,
            "state": fields.get("state", State.ERROR.value),
            "image": fields.get("image", ""),
        }
        for name in ("node", "worker"):
            if name in fields:
                view[name] = fields[name]
        if "result" in fields:
            view["result"] = json.loads(fields["result"])
        if "error" in fields:
            view["error"] = fields["error"]
        return view

    def owner(self, run_id: str) -> str | None:
        """The client that created the job (empty: any may read it); None: no such job."""
        with translated():
            found = self._redis.hget(self._key(run_id), "owner")
            if found is None and not self._redis.exists(self._key(run_id)):
                return None
        return (found or b"").decode()

    def ended(self, run_id: str) -> bool:
        """Whether the job's record holds a final state (no record: unknown, not ended)."""
        with translated():
            state = self._redis.hget(self._key(run_id), "state")
        return state is not None and state.decode() in FINAL

    def wait(self, run_id: str, seconds: float) -> dict[str, Any]:
        """The run once it is final, or as it stands after `seconds`.

        With notices, a waiter holds no connection while it waits. Without, several clients
        may wait on one run: each takes the done marker and puts it back (BLMOVE from a list
        to itself), which wakes the next.
        """
        view = self.get(run_id)
        if view["state"] in FINAL or seconds <= 0:
            return view
        if self._notices is not None:
            self._notices.wait(self.kind, run_id, lambda: self.ended(run_id), seconds)
            return self.get(run_id)
        with translated():
            key = self._key(run_id, ":done")
            self._redis.blmove(key, key, seconds, "LEFT", "RIGHT")
        return self.get(run_id)
