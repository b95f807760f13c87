"""The worker's composition root: one NodeContext per process, built after the pool forks."""

import os
from typing import Any

from celery import current_app
from celery.signals import celeryd_init, worker_process_init, worker_process_shutdown

from app.config import Settings
from app.wiring import NodeContext

_context: NodeContext | None = None
WORKER_NAME = "GREENBAR_WORKER_NAME"  # set by the main process before its pool forks


def node_context() -> NodeContext:
    """This process's context, built on first use from the environment."""
    global _context
    if _context is None:
        worker = os.environ.get(WORKER_NAME, "")
        _context = NodeContext.create(Settings.from_env(os.environ), _send, worker)
    return _context


def _send(task: str, args: list[Any], queue: str | None) -> None:
    current_app.send_task(task, args=args, **({"queue": queue} if queue else {}))


@celeryd_init.connect
def _name_the_worker(sender: str, **_: object) -> None:
    # Pool children inherit it: their runs take warm containers from this worker's pool.
    os.environ[WORKER_NAME] = sender


@worker_process_init.connect
def _forget_parent_context(**_: object) -> None:
    # Sockets must not be shared across fork: each pool child builds its own.
    global _context
    _context = None


@worker_process_shutdown.connect
def _close_the_evaluator(**_: object) -> None:
    # Its container would go anyway once this process's attach socket closes; this is sooner.
    if _context is not None:
        _context.evaluator.close()
