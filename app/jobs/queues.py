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
BUILD_QUEUE = "greenbar.builds"  # taken only by builder workers (GREENBAR_BUILDER)

RUN_TASK = "greenbar.run"
COLOUR_TASK = "greenbar.colour"
PULL_TASK = "greenbar.pull"
PRUNE_TASK = "greenbar.prune"
BUILD_TASK = "greenbar.build"
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


def worker_queues(node: str, tracks: tuple[str, ...], builder: bool = False) -> list[str]:
    """What a worker consumes: its tracks' queues if scoped, else the run queue; always its
    node's queue and the shared one; a builder the builds queue too."""
    runs = [track_queue(t) for t in tracks] if tracks else [RUN_QUEUE]
    return [*runs, node_queue(node), SHARED_QUEUE, *([BUILD_QUEUE] if builder else [])]


def queue_of(route: Route) -> str:
    if route.kind == "node":
        return node_queue(route.name)
    if route.kind == "track":
        return track_queue(route.name)
    return RUN_QUEUE
