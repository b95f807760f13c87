"""Periodic work done once per period however many beat processes send it.

A second `celery beat` is harmless: each periodic task first claims its period in Redis
(SET NX with an expiry of 90 % of the period), and only the claimant does the work. Sends from
other beats, at whatever offset, fall inside a claimed window and are dropped.
"""

from app.externals.store import Client, translated

CLAIM_FRACTION = 0.9


class OncePerPeriod:
    """Args: client: Redis, shared by every worker."""

    def __init__(self, client: Client) -> None:
        self._redis = client

    def claim(self, name: str, period_seconds: float) -> bool:
        """True if no one has claimed `name` within the last 90 % of its period."""
        seconds = max(int(period_seconds * CLAIM_FRACTION), 1)
        with translated():
            return bool(self._redis.set(f"greenbar:periodic:{name}", 1, nx=True, ex=seconds))
