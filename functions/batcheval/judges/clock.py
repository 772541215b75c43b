"""Time as the judge wrappers see it: injectable so tests and the benchmark control it.

`now()` is wall-clock epoch seconds (not monotonic) because the DynamoDB token bucket compares
timestamps written by different Lambda invocations; code that subtracts two readings clamps
negative differences to zero so a clock step never produces negative refill.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()
