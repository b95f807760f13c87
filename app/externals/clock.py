"""The clock: the only place greenbar reads time or waits. Everything else is handed these
functions (or a `Clock`) and tests hand it a `ManualClock` instead."""

import time
from collections.abc import Callable
from dataclasses import dataclass

wall: Callable[[], float] = time.time  # seconds since the epoch: records, expiry, ages
monotonic: Callable[[], float] = time.monotonic  # deadlines and durations
sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class Clock:
    """The three readings a process's parts are given together."""

    wall: Callable[[], float] = wall
    monotonic: Callable[[], float] = monotonic
    sleep: Callable[[float], None] = sleep


REAL = Clock()


class ManualClock:
    """A clock that moves only when told to, or when something sleeps on it: `sleep(s)` returns
    at once, `s` seconds later. One reading serves as both wall and monotonic time."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> Clock:
        return Clock(wall=self, monotonic=self, sleep=self.sleep)
