"""The project's own scripts install every program its tests, benches and scripts call (issue
12, finding 1: the tests ran `docker-registry`, which nothing installed, and only a machine
that happened to have it passed). No Docker or service needed: it reads the sources."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIB = (ROOT / "scripts" / "lib.sh").read_text()
# Every program outside Debian's essential set (umount, sh, tar…) that a test, a bench or a
# script runs: tests/cluster.py, system/test_deploy.py, integration/test_tracks.py, images/,
# supervisor/build.py, scripts/test.sh. Add a program here when a source starts running it.
CALLED = [
    "docker-registry",
    "dockerd",
    "docker-compose",
    "redis-server",
    "redis-cli",
    "gcc",
    "debootstrap",
    "runsc",
    "git",
    "curl",
]


def installed_by_the_scripts() -> set[str]:
    """Programs scripts/lib.sh checks for with `command -v NAME` before installing them."""
    return set(re.findall(r"command -v ([a-z][a-z0-9._-]+)", LIB))


@pytest.mark.parametrize("program", CALLED)
def test_each_program_the_suite_needs_is_installed_by_scripts_lib(program):
    provided = installed_by_the_scripts() | {"redis-cli"}  # redis-cli comes with redis-server
    assert program in provided, f"scripts/lib.sh never installs {program}"
