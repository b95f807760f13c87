"""What the integration layer's modules share beyond the root's fixtures."""

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.helpers import free_port
from web import create_app


@pytest.fixture(scope="module")
def url(settings: Any, worker: Any) -> Iterator[str]:
    """The real API served over HTTP on a free loopback port (for the CLI); its base URL."""
    port = free_port()
    server = make_server("127.0.0.1", port, create_app(settings), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(10)
