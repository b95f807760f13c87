"""Queue names, task names and routes, in one place.

Every worker consumes the run queue and its own node's queue, `greenbar.node.<node>`, so a task
can be sent to one particular node (a pull, a prune, a kata's run).
"""

RUN_QUEUE = "greenbar.runs"

RUN_TASK = "greenbar.run"
COLOUR_TASK = "greenbar.colour"
PULL_TASK = "greenbar.pull"
PRUNE_TASK = "greenbar.prune"
SCHEDULE_PULLS_TASK = "greenbar.schedule_pulls"
SCHEDULE_PRUNES_TASK = "greenbar.schedule_prunes"

ROUTES = {
    RUN_TASK: {"queue": RUN_QUEUE},
    COLOUR_TASK: {"queue": RUN_QUEUE},
    SCHEDULE_PULLS_TASK: {"queue": RUN_QUEUE},
    SCHEDULE_PRUNES_TASK: {"queue": RUN_QUEUE},
}


def node_queue(node: str) -> str:
    """The queue only `node`'s workers consume."""
    return f"greenbar.node.{node}"
