from __future__ import annotations

import pytest

from batcheval.judges.base import JudgeRequest


class FakeClock:
    """A clock that only moves when slept on (single-threaded tests)."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += max(0.0, seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def request_() -> JudgeRequest:
    return JudgeRequest(
        system="rubric", prompt="transcript", output_schema={"type": "object"}, max_tokens=100
    )
