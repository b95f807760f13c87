"""Queue names, task names and routes, in one place.

- `greenbar.runs`: runs any generic worker may take;
- `greenbar.track.<slug>`: runs of a track, taken by the workers scoped to it;
- `greenbar.node.<node>`: work for one node (a pull, a prune, a kata's run), taken by every
  worker of that node;
- `greenbar.shared`: colours and the beat's fan-outs, taken by every worker.
"""

from app.jobs.routing import Route

RUN_QUEUE = "greenbar.runs"
SHARED_QUEUE = "greenbar.shared"

RUN_TASK = "greenbar.run"
COLOUR_TASK = "greenbar.colour"
PULL_TASK = "greenbar.pull"
PRUNE_TASK = "greenbar.prune"
SCHEDULE_PULLS_TASK = "greenbar.schedule_pulls"
SCHEDULE_PRUNES_TASK = "greenbar.schedule_prunes"

ROUTES = {
    RUN_TASK: {"queue": RUN_QUEUE},
    COLOUR_TASK: {"queue": SHARED_QUEUE},
    SCHEDULE_PULLS_TASK: {"queue": SHARED_QUEUE},
    SCHEDULE_PRUNES_TASK: {"queue": SHARED_QUEUE},
}


def node_queue(node: str) -> str:
    """The queue only `node`'s workers consume."""
    return f"greenbar.node.{node}"


def track_queue(track: str) -> str:
    """The queue only workers scoped to `track` consume."""
    return f"greenbar.track.{track}"


def worker_queues(node: str, tracks: tuple[str, ...]) -> list[str]:
    """What a worker consumes: its tracks' queues if scoped, else the run queue; always its
    node's queue and the shared one."""
    runs = [track_queue(t) for t in tracks] if tracks else [RUN_QUEUE]
    return [*runs, node_queue(node), SHARED_QUEUE]


def queue_of(route: Route) -> str:
    if route.kind == "node":
        return node_queue(route.name)
    if route.kind == "track":
        return track_queue(route.name)
    return RUN_QUEUE
