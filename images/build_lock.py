"""A machine-wide lock so two image builds never run at the same time."""

from __future__ import annotations

import contextlib
import fcntl
import tempfile
from collections.abc import Iterator
from pathlib import Path

LOCK_PATH = Path(tempfile.gettempdir()) / "greenbar-images-build.lock"


@contextlib.contextmanager
def build_lock(path: Path = LOCK_PATH) -> Iterator[None]:
    """Holds an exclusive flock on path while the block runs; waits for other holders.

    Args:
        path: The lock file; created when missing and never removed.
    """
    with open(path, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
