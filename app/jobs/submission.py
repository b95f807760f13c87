"""Submitting jobs and reading them back: the decisions behind POST /runs, POST /colours and
their GETs, callable from a plain Python shell (web/ only translates HTTP to these).

    >>> jobs = Jobs(Stores.over(Externals.for_web(settings)), settings, send)
    >>> run_id = jobs.submit_run(RunRequest(image, {"cyber-dojo.sh": "..."}), client="me").id
    >>> jobs.read(jobs.stores.runs, run_id, "me", admin=False, wait=10).to_wire()
"""

import logging
import re
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from app.config import Settings
from app.errors import KataBusy, ServiceUnavailable, UnknownJob
from app.externals import ids
from app.jobs.queues import COLOUR_TASK, RUN_TASK, SHARED_QUEUE, queue_of
from app.jobs.records import JobStore, JobView, R, State
from app.jobs.requests import ColourRequest, RunRequest
from app.jobs.routing import route_run
from app.logs import event

if TYPE_CHECKING:
    from app.wiring import Stores

log = logging.getLogger(__name__)
JOB_ID = re.compile("[0-9a-f]{32}")  # what new ids look like; anything else names no job
# Sends (task name, arguments, queue or None: the task's own route) to the workers.
Send = Callable[[str, list[Any], str | None], None]


class Jobs:
    """Args:
    stores: greenbar's records.
    settings: the deployment's settings.
    send: hands a task to the broker.
    new_id: a fresh job id (128 random bits, so no one guesses another's).
    """

    def __init__(
        self,
        stores: "Stores",
        settings: Settings,
        send: Send,
        new_id: Callable[[], str] = ids.token,
    ) -> None:
        self.stores = stores
        self._settings = settings
        self._send = send
        self._new_id = new_id

    def submit_run(self, request: RunRequest, client: str) -> JobView:
        """Routes, admits and queues a run for `client`; returns it as recorded: queued.

        A run of a kata gets the client's own volume reference and claims the kata: one run
        at a time.

        Raises:
            ServiceUnavailable: no live worker can take it, or its queue is full (with a
                Retry-After) or unreachable.
            KataBusy: its kata has a run in progress.
        """
        s = self.stores
        if request.kata is not None:  # the client's kata of that name, not another client's
            request = replace(request, kata_ref=s.katas.ref(client, request.kata))
        route = route_run(request.kata_ref, request.track, s.katas, s.registry.live())
        queue, run_id = queue_of(route), self._new_id()
        with s.admission.admitted(queue, "runs"):
            if request.kata_ref is None:
                return self._queue(s.runs, RUN_TASK, request, client, run_id, queue)
            claim = self._settings.visibility_timeout_seconds + self._settings.longest_run_seconds
            holder = s.katas.claim(request.kata_ref, run_id, claim)
            if holder is not None:
                raise KataBusy(
                    f"kata {request.kata} has a run in progress ({holder}): one at a time"
                )
            try:
                return self._queue(s.runs, RUN_TASK, request, client, run_id, queue)
            except Exception:
                s.katas.release(request.kata_ref, run_id)
                raise

    def submit_colour(self, request: ColourRequest, client: str) -> JobView:
        """Admits and queues a colour for `client`; returns it as recorded: queued.

        Raises:
            ServiceUnavailable: no live worker, or the shared queue is full or unreachable.
        """
        if not self.stores.registry.live():
            raise ServiceUnavailable("no live worker can colour outputs")
        with self.stores.admission.admitted(SHARED_QUEUE, "colours and other jobs"):
            colours = self.stores.colours
            return self._queue(colours, COLOUR_TASK, request, client, self._new_id(), None)

    def _queue(
        self, store: JobStore[R], task: str, request: R, owner: str, job_id: str, queue: str | None
    ) -> JobView:
        """Records the job as queued, then sends it; a broker that refuses ends the record in
        error at once, so it never says `queued` forever."""
        store.enqueue(job_id, request, owner)
        queued = store.get(job_id)  # as recorded: a worker may take it the moment it is sent
        try:
            self._send(task, [job_id], queue)
        except Exception as error:
            store.fail(job_id, f"could not be queued: {error}")
            raise ServiceUnavailable(f"the queue is unavailable: {error}") from error
        kind = store.kind
        kata = request.kata if isinstance(request, RunRequest) else None
        track = request.track if isinstance(request, RunRequest) else None
        said = {f"{kind}_id": job_id, "image": request.image, "track": track, "kata": kata}
        event(log, f"{kind}.queued", **said, queue=queue)
        return queued

    def read(
        self, store: JobStore[R], job_id: str, client: str, admin: bool, wait: float = 0.0
    ) -> JobView:
        """The job as it stands, after waiting up to `wait` seconds for it to end. Only the
        client that created it (or an admin) may read it: to anyone else it does not exist.

        Raises:
            UnknownJob: no such job, or not this client's.
        """
        owner = store.owner(job_id) if JOB_ID.fullmatch(job_id) else None
        if owner is None or (owner not in ("", client) and not admin):
            raise UnknownJob(store.kind, job_id)
        return self.settled(store, store.wait(job_id, wait))

    def settled(self, store: JobStore[R], view: JobView) -> JobView:
        """The view, closed in error if it is running on a worker that is no longer alive: a
        job is never left `running` by a worker killed outright."""
        worker = view.worker
        if view.state != State.RUNNING or not worker or self.stores.registry.is_live(worker):
            return view
        asked = store.request(view.id)  # before the end is recorded: that drops the request
        store.fail(view.id, f"the worker {worker} stopped while carrying it out")
        if isinstance(asked, RunRequest) and asked.kata_ref is not None:
            self.stores.katas.release(asked.kata_ref, view.id)  # its worker would have
        event(log, f"{store.kind}.error", **{f"{store.kind}_id": view.id}, worker=worker)
        return store.get(view.id)
