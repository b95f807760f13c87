"""Periodic work done once per period however many beat processes send it.

A second `celery beat` is harmless: each periodic task first claims its time slot in Redis
(SET NX), and only the first claimant of a slot does the work.
"""

import redis

from app.store import translated


class OncePerSlot:
    """Args: client: Redis, shared by every worker."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def claim(self, name: str, period_seconds: float, now: float) -> bool:
        """True for the first caller in the slot of `now`; False for every later one."""
        slot = int(now // period_seconds)
        key = f"greenbar:periodic:{name}:{slot}"
        with translated():
            return bool(self._redis.set(key, 1, nx=True, ex=max(int(period_seconds * 2), 1)))
