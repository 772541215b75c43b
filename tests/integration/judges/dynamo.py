"""Helpers for the DynamoDB-backed limiter tests (moto)."""

from __future__ import annotations

import threading
from typing import Any

TABLE = "judge-buckets"
"""The judge rate-limit table the DynamoDB tests create (fixture `ddb` in conftest.py)."""


class AtomicCalls:
    """Makes each DynamoDB call atomic, as the real service is per item.

    moto checks a ConditionExpression and writes in two steps without a lock, so two threads can
    both pass the same `version = :v` check; DynamoDB cannot. Our read-compute-write sequences
    still interleave freely between calls, which is what these tests exercise.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return method(*args, **kwargs)

        return call


class StepClock:
    """Virtual time that moves only when someone sleeps."""

    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self.t

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.t += max(0.0, seconds)
