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
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from app.errors import StoreUnavailable, UnknownJob
from app.externals import clock
from app.externals.end_notices import EndNotices, channel
from app.externals.store import Client, translated
from app.jobs.requests import ColourRequest, RunRequest


class State(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    ERROR = "error"


FINAL = (State.DONE, State.ERROR)
END_RETRY_SECONDS = 30
END_RETRY_PAUSE_SECONDS = 0.5
Fields = dict[str | bytes, bytes | float | int | str]
R = TypeVar("R", RunRequest, ColourRequest)


class Wired(Protocol):
    """A record that owns its wire form: requests and results."""

    def to_wire(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class JobKind(Generic[R]):
    """A kind of job: the name its keys, events and routes use, and how its request reads."""

    name: str
    request: Callable[[dict[str, Any]], R]


RUNS = JobKind("run", RunRequest.from_wire)
COLOURS = JobKind("colour", ColourRequest.from_wire)


@dataclass(frozen=True)
class JobView:
    """A job as its client sees it: id, state, and its result (wire form) or error once final;
    `worker` names who carries it out once it runs."""

    id: str
    state: State
    image: str = ""
    node: str | None = None
    worker: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None

    @property
    def final(self) -> bool:
        return self.state in FINAL

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"id": self.id, "state": self.state.value, "image": self.image}
        for name in ("node", "worker", "result", "error"):
            if getattr(self, name) is not None:
                wire[name] = getattr(self, name)
        return wire


class JobStore(Generic[R]):
    """Job records of one kind in Redis.

    Args:
        client: a Redis connection (decode_responses=False).
        ttl: seconds a record lives after its last change.
        kind: RUNS or COLOURS; each kind has keys of its own.
        now: wall-clock seconds since the epoch.
        sleep: waits between tries of recording an end while Redis is away.
        notices: the process's shared subscription to ends, for `wait`; without it a waiter
            blocks a Redis connection of its own.
    """

    def __init__(
        self,
        client: Client,
        ttl: int,
        kind: JobKind[R],
        now: Callable[[], float] = clock.wall,
        sleep: Callable[[float], None] = clock.sleep,
        notices: EndNotices | None = None,
    ) -> None:
        self._sleep = sleep
        self._notices = notices
        self._redis = client
        self._ttl = ttl
        self._now = now
        self._read_request: Callable[[dict[str, Any]], R] = kind.request
        self.kind = kind.name

    def _key(self, run_id: str, part: str = "") -> str:
        return f"greenbar:{self.kind}:{run_id}{part}"

    def enqueue(self, run_id: str, request: R, owner: str = "") -> None:
        """Records a new job as queued, with the request a worker will need and the client
        that may read it (`owner`; empty: any)."""
        fields: Fields = {
            "state": State.QUEUED,
            "image": request.image,
            "queued_at": self._now(),
            "owner": owner,
        }
        with translated(), self._redis.pipeline() as pipe:
            pipe.hset(self._key(run_id), mapping=fields)
            pipe.expire(self._key(run_id), self._ttl)
            wire = json.dumps(request.to_wire())
            pipe.set(self._key(run_id, ":request"), wire, ex=self._ttl)
            pipe.execute()

    def request(self, run_id: str) -> R | None:
        """The request of a job, or None once it has been finished or has expired."""
        with translated():
            raw = self._redis.get(self._key(run_id, ":request"))
        return None if raw is None else self._read_request(json.loads(raw))

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

    def finish(self, run_id: str, result: Wired) -> None:
        self._end(run_id, State.DONE, {"result": json.dumps(result.to_wire())})

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

    def get(self, run_id: str) -> JobView:
        """The job as clients see it.

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
        return JobView(
            id=run_id,
            state=State(fields.get("state", State.ERROR.value)),
            image=fields.get("image", ""),
            node=fields.get("node"),
            worker=fields.get("worker"),
            result=json.loads(fields["result"]) if "result" in fields else None,
            error=fields.get("error"),
        )

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

    def wait(self, run_id: str, seconds: float) -> JobView:
        """The run once it is final, or as it stands after `seconds`.

        With notices, a waiter holds no connection while it waits. Without, several clients
        may wait on one run: each takes the done marker and puts it back (BLMOVE from a list
        to itself), which wakes the next.
        """
        view = self.get(run_id)
        if view.final or seconds <= 0:
            return view
        if self._notices is not None:
            self._notices.wait(self.kind, run_id, lambda: self.ended(run_id), seconds)
            return self.get(run_id)
        with translated():
            key = self._key(run_id, ":done")
            self._redis.blmove(key, key, seconds, "LEFT", "RIGHT")
        return self.get(run_id)
