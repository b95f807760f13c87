"""Queue names and task routes, in one place."""

RUN_QUEUE = "greenbar.runs"
RUN_TASK = "greenbar.run"

ROUTES = {
    RUN_TASK: {"queue": RUN_QUEUE},
}
