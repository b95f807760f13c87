"""gunicorn's settings for greenbar's API, taken from greenbar's own (app/config.py).

    gunicorn -c web/gunicorn_conf.py 'web:create_app()'

gevent workers: a request waiting (a long poll, a slow client) is a greenlet, not one of a few
threads, so no number of waiting clients keeps `/alive` or a new run waiting (issue 12 measured
sixteen long polls stopping 2 workers x 8 threads). The request line and headers get the
keep-alive time to arrive; the body gets GREENBAR_BODY_READ_SECONDS (web/edge.py).

Settings are checked here, in gunicorn's master, so a refused configuration (an open API
beyond loopback, say) stops the start before anything listens.
"""

import os
import resource
from typing import Any

from app.config import Settings

_settings = Settings.from_env(os.environ)

bind = [
    f"[{_settings.bind}]:{_settings.port}"
    if ":" in _settings.bind
    else f"{_settings.bind}:{_settings.port}"
]
worker_class = "gevent"
workers = _settings.web_workers
worker_connections = _settings.web_connections
keepalive = 5  # also the most the request line and headers may take
# A gevent worker answers its arbiter from a greenlet of its own: a long request never makes it
# look stuck, so this only catches a process that stopped scheduling.
timeout = 30
graceful_timeout = _settings.wait_max_seconds + 5
accesslog = None
# gunicorn's control socket is one path per user: two APIs on one host (tests, benches) would
# take it from each other, and greenbar does not use it.
control_socket_disable = True


def on_starting(server: Any) -> None:
    """Raises the open-file limit to what the connections need: each is a descriptor."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = _settings.web_connections + 256  # Redis, logs, the listening socket
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
