"""Queue names and task routes, in one place."""

RUN_QUEUE = "greenbar.runs"
RUN_TASK = "greenbar.run"
COLOUR_TASK = "greenbar.colour"

ROUTES = {
    RUN_TASK: {"queue": RUN_QUEUE},
    COLOUR_TASK: {"queue": RUN_QUEUE},
}
