"""The unit layer: no Docker engine and no Celery, so it runs where neither is. Redis is
allowed (it is cheap): this layer starts its own, which its tests may empty at will. A unit
test that asks for the engine or a worker (or the images or the API, which need them) fails,
saying where it belongs."""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.helpers import redis_server

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The unit layer's own redis-server (it overrides the root's): no worker shares it."""
    with redis_server() as url:
        yield url


@pytest.fixture
def store(redis_url: str) -> Iterator[redis.Redis]:
    """A client of the unit layer's Redis, emptied before each test."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="session", autouse=True)
def supervisor_built() -> None:
    """The sandbox supervisor is built (gcc; cached by a hash of its sources): its volume is
    named after the binary's hash, which the lock tests read. No engine is needed."""
    done = subprocess.run([sys.executable, str(ROOT / "supervisor" / "build.py")], check=False)
    if done.returncode != 0:
        pytest.fail("supervisor/build.py failed")


@pytest.fixture(scope="session")
def docker_client() -> None:
    """Overrides the root's: a unit test has no engine (nor images, nor the API's worker)."""
    pytest.fail("a unit test asked for the Docker engine: it belongs in tests/integration")


@pytest.fixture(scope="session")
def worker() -> None:
    """Overrides the root's: a unit test has no Celery worker."""
    pytest.fail("a unit test asked for a Celery worker: it belongs in tests/integration")
