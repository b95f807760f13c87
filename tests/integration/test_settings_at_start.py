"""A worker's and a beat's start warns of each GREENBAR_* name greenbar does not read (issue 12,
item 7): real Celery processes, with a Redis nothing answers on. The settings' own rules are
pure logic, in tests/unit/test_settings.py."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT, free_port

START_SECONDS = 30


@pytest.mark.parametrize("command", [["worker", "--pool", "solo"], ["beat"]])
def test_worker_and_beat_warn_of_a_mistyped_name_as_they_start(command, tmp_path):
    # Redis is a port nothing answers on: each retries it for ever, after its start.
    env = {
        **os.environ,
        "GREENBAR_MEMORY_MB": "512",
        "GREENBAR_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
    }
    extra = ["--schedule", str(tmp_path / "schedule")] if command == ["beat"] else []
    celery = Path(sys.executable).parent / "celery"
    log = tmp_path / "log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(celery), "-A", "tasks.worker", *command, *extra],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        while "GREENBAR_MEMORY_MB" not in log.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            time.sleep(0.1)
    finally:
        process.kill()
        process.wait()
    assert "did you mean GREENBAR_MEMORY_MIB?" in log.read_text()
