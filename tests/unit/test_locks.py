"""Every Redis lock greenbar takes is released only by its holder: a holder that outlives its
lock, which another then takes, leaves the other's lock alone. Real Redis; expiry is Redis's
own, brought forward with PEXPIRE rather than waited for."""

import uuid

import pytest
import redis

from app.colour.rag_cache import RagCache
from app.colour.rag_lambda import MISSING
from app.config import Settings
from app.images.pull_records import PullStore
from app.katas.records import KataStore
from app.sandbox.supervisor import SupervisorVolume
from tests.helpers import wait_until

OTHER = b"another holder's token"


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def expire(client: redis.Redis, key: str) -> None:
    """Makes `key` expire now, as it would once its holder outlived it."""
    assert client.pexpire(key, 1), f"{key} is not held"
    wait_until(lambda: not client.exists(key), 5, f"{key} to expire")


def taken_by_another(client: redis.Redis, key: str) -> None:
    expire(client, key)
    assert client.set(key, OTHER, nx=True, ex=60)


def test_a_lock_is_released_by_its_holder_and_by_no_one_else(client):
    from app.externals import locks

    key = f"greenbar:test-lock:{uuid.uuid4().hex}"
    first = locks.lock(client, key, 60)
    assert first.acquire(blocking=False)
    assert not locks.lock(client, key, 60).acquire(blocking=False)
    expire(client, key)
    second = locks.lock(client, key, 60)
    assert second.acquire(blocking=False)
    assert locks.release(first) is False
    assert client.exists(key)
    assert locks.release(second) is True
    assert not client.exists(key)


def test_a_pull_that_outlived_its_lock_leaves_the_next_pulls_lock_alone(client):
    node, image = f"node-{uuid.uuid4().hex}", "greenbar/busybox-sh"
    key = f"greenbar:pull-lock:{node}:{image}"
    slow, next_pull, third = (PullStore(client, 60) for _ in range(3))
    assert slow.lock(node, image)
    expire(client, key)
    assert next_pull.lock(node, image)
    slow.unlock(node, image)
    assert next_pull.is_locked(node, image)
    assert not third.lock(node, image), "a third pull got in beside the second"
    next_pull.unlock(node, image)
    assert not third.is_locked(node, image)


def test_a_pull_that_holds_its_lock_releases_it(client):
    node, image = f"node-{uuid.uuid4().hex}", "greenbar/busybox-sh"
    pulls = PullStore(client, 60)
    assert pulls.lock(node, image)
    pulls.unlock(node, image)
    assert not pulls.is_locked(node, image)
    assert pulls.lock(node, image)
    pulls.unlock(node, image)


class SlowReader(RagCache):
    """A reader of an image's lambda whose read outlives its lock, which another takes."""

    def _read_into_cache(self, digest: str) -> bytes:
        taken_by_another(self._redis, f"greenbar:rag:{digest}:reading")
        return MISSING


def test_a_rag_lambda_reader_that_outlived_its_lock_leaves_the_next_readers_alone(client):
    digest = f"sha256:{uuid.uuid4().hex}"
    reader = SlowReader(client, engine=None, ttl=60, missing_ttl=60)  # type: ignore[arg-type]
    assert reader.fetch(digest) is None
    assert client.get(f"greenbar:rag:{digest}:reading") == OTHER


class SlowLoader(SupervisorVolume):
    """A loader of the supervisor's volume whose load outlives its lock, which another takes."""

    def _load(self, image_id: str) -> None:
        taken_by_another(self._redis, self.lock_key)

    @property
    def lock_key(self) -> str:
        return f"greenbar:supervisor:{self._settings.node}:{self.name}:loading"


def test_a_supervisor_loader_that_outlived_its_lock_leaves_the_next_loaders_alone(client):
    settings = Settings.from_env({}, node=f"node-{uuid.uuid4().hex}", deployment="test-locks")
    loader = SlowLoader(engine=None, client=client, settings=settings)  # type: ignore[arg-type]
    assert loader.ensure("an image id") == loader.name
    assert client.get(loader.lock_key) == OTHER


def test_a_kata_run_whose_claim_expired_leaves_the_next_runs_claim_alone(client):
    kata = uuid.uuid4().hex
    katas = KataStore(client, 60)
    assert katas.claim(kata, "run-1", 60) is None
    expire(client, f"greenbar:kata:{kata}:run")
    assert katas.claim(kata, "run-2", 60) is None
    katas.release(kata, "run-1")
    assert katas.claim(kata, "run-3", 60) == "run-2"
