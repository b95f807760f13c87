"""The worker's composition root: one NodeContext per process, built after the pool forks."""

import os

from celery.signals import worker_process_init

from app.config import Settings
from app.context import NodeContext

_context: NodeContext | None = None


def node_context() -> NodeContext:
    """This process's context, built on first use from the environment."""
    global _context
    if _context is None:
        _context = NodeContext.create(Settings.from_env(os.environ))
    return _context


@worker_process_init.connect
def _forget_parent_context(**_: object) -> None:
    # Sockets must not be shared across fork: each pool child builds its own.
    global _context
    _context = None
