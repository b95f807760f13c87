"""No secret reaches Celery's configuration, Flower, a log line, an error body or a metric
(issue 12, finding 2): a worker and Flower run with tokens and a Redis that wants a password,
and nothing they show or write holds any of them."""

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from app.config import Settings
from tests.cluster import celery_worker, worker_log
from tests.helpers import free_port, wait_until
from tests.system.test_flower import CREDENTIALS, flower_process, get
from web import create_app

PASSWORD = "redis-password-f00d"
CLIENT_TOKEN = "client-token-c0ffee"
ADMIN_TOKEN = "admin-token-decaf"
SECRETS = (PASSWORD, CLIENT_TOKEN, ADMIN_TOKEN)


@pytest.fixture(scope="module")
def guarded_redis() -> Iterator[str]:
    """A private Redis that wants a password; yields its URL, password included."""
    port = free_port()
    server = shutil.which("redis-server") or "redis-server"
    options = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(
        [server, "--port", str(port), *options, "--requirepass", PASSWORD],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, password=PASSWORD)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    wait_until(answers, 10, "the password-protected redis-server")
    yield f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="module")
def secretive(guarded_redis: str, images: None) -> Iterator[tuple[Any, Any]]:
    """A worker and Flower configured with every secret; yields the worker and Flower's URL."""
    env = {"GREENBAR_CLIENT_TOKENS": CLIENT_TOKEN, "GREENBAR_ADMIN_TOKENS": ADMIN_TOKEN}
    logs = Path(tempfile.mkdtemp(prefix="greenbar-secrets-"))
    with celery_worker("secrets@secret-node", "secret-node", guarded_redis, extra_env=env) as w:
        flower_env = {**env, "GREENBAR_FLOWER_BASIC_AUTH": CREDENTIALS}
        with flower_process(guarded_redis, logs / "flower.log", **flower_env) as flower:
            yield w, flower


def _shows_no_secret(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{where} shows a secret ({secret[:6]}…)"


def test_flowers_view_of_the_worker_and_its_configuration_shows_no_secret(secretive):
    _, flower = secretive
    url = f"{flower}/api/workers?refresh=1"
    wait_until(lambda: b"secret-node" in get(url, CREDENTIALS)[1], 30, "Flower to see the worker")
    status, body = get(url, CREDENTIALS)
    assert status == 200
    workers = json.loads(body)
    conf = next(iter(workers.values())).get("conf") or {}
    assert conf, "Flower got the worker's configuration, so the test looks at it"
    _shows_no_secret(body.decode(), "Flower's worker API")
    assert "greenbar_settings" not in conf
    name = next(iter(workers))
    _shows_no_secret(get(f"{flower}/worker/{name}", CREDENTIALS)[1].decode(), "Flower's page")


def test_the_worker_log_the_api_errors_and_the_metrics_show_no_secret(guarded_redis, secretive):
    worker, _ = secretive
    settings = Settings.from_env(
        {},
        redis_url=guarded_redis,
        client_tokens=(CLIENT_TOKEN,),
        admin_tokens=(ADMIN_TOKEN,),
    )
    api = create_app(settings).test_client()
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    answers = [
        api.get("/runs/" + "0" * 32, headers=admin),
        api.get("/metrics", headers=admin),
        api.post("/pulls", json={"image": "not/allowed"}, headers=admin),
        api.get("/nodes", headers={"Authorization": f"Bearer {CLIENT_TOKEN}x"}),
    ]
    for answer in answers:
        _shows_no_secret(answer.get_data(as_text=True), f"a {answer.status_code} answer")
    _shows_no_secret(worker_log(worker), "the worker's log")
