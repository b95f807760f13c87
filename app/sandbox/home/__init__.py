"""The helper files every run finds in its HOME, /home/sandbox, as cyber-dojo's start points
expect them (`source ~/cyber_dojo_fs_cleaners.sh`): greenbar's own, written there by the
supervisor before the run (an `H` frame of the request, app/sandbox/feed.py)."""

import functools
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAMES = ("cyber_dojo_fs_cleaners.sh",)


@functools.cache
def home_files() -> dict[str, str]:
    """The helper files by name (relative to HOME), read once from this package."""
    return {name: (HERE / name).read_text(encoding="utf-8") for name in NAMES}
