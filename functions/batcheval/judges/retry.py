"""Retries of retryable judge failures: exponential backoff with full jitter inside a bounded budget.

The budget is two-sided (attempts AND elapsed time) so a judge that stays unavailable becomes a
`JudgeError` for that one result after a known worst case, never a hung job. A server's Retry-After
is honoured (waited at least, plus a little jitter so released callers do not stampede).

This is the only retry layer for judge calls: the Bedrock client is built with botocore retries off
(`total_max_attempts=1`) because botocore's standard mode would also retry ThrottlingException underneath
us and multiply the attempts; connection errors are mapped to retryable `JudgeError`s instead.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from batcheval.errors import JudgeError
from batcheval.judges.accounting import JudgeLedger
from batcheval.judges.base import DEADLINE_EXCEEDED, Judge, JudgeRequest, JudgeResponse
from batcheval.judges.clock import SYSTEM_CLOCK, Clock

THROTTLING = "ThrottlingException"
UNAVAILABLE = "JudgeUnavailable"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 6
    max_elapsed_s: float = 120.0
    """No retry starts if its backoff would end after this many seconds since the first attempt."""
    base_delay_s: float = 1.0
    max_delay_s: float = 20.0
    retry_after_jitter_s: float = 1.0
    """Extra random wait added on top of a server's Retry-After."""
    max_retry_after_s: float = 60.0
    """Retry-After values above this are clamped (a bad header must not stall a job)."""
    degrade_after: int = 3
    """After this many calls in a row gave up unavailable (no success between), calls to that model
    get one attempt and no retries until one succeeds: a judge that stays down then costs one try
    per result instead of the whole retry budget (minutes per result, hours per job)."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.degrade_after < 1:
            raise ValueError("max_attempts and degrade_after must be >= 1")
        if self.max_elapsed_s < 0 or self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("retry delays and budget must be >= 0")

    def delay(self, retry_number: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry `retry_number` (1-based): full jitter, or Retry-After + jitter."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after_s) + rng.uniform(
                0.0, self.retry_after_jitter_s
            )
        ceiling = min(self.max_delay_s, self.base_delay_s * (2 ** (retry_number - 1)))
        return rng.uniform(0.0, ceiling)


class RetryingJudge:
    """Wraps a judge; retries `JudgeError(retryable=True)` within the policy's budget.

    When the budget runs out the last error is re-raised as non-retryable: a throttled judge keeps the
    code `ThrottlingException`, anything else becomes `JudgeUnavailable`; the message says how many
    attempts over how long. Throttles never degrade a model (they are capacity, not an outage);
    `RetryPolicy.degrade_after` consecutive unavailable give-ups do, until the next success. No
    attempt or retry starts after the request's `deadline`: that ends as `JudgeDeadlineExceeded`.
    """

    def __init__(
        self,
        inner: Judge,
        policy: RetryPolicy | None = None,
        *,
        seed: int = 0,
        rng: random.Random | None = None,
        clock: Clock = SYSTEM_CLOCK,
        ledger: JudgeLedger | None = None,
        model_id: str = "unknown",
    ) -> None:
        self.inner = inner
        self.policy = policy or RetryPolicy()
        self._rng = rng or random.Random(seed)
        self._rng_lock = threading.Lock()
        self._clock = clock
        self._ledger = ledger
        self._model_id = model_id
        self._unavailable_streak: dict[str, int] = {}

    def judge(self, request: JudgeRequest) -> JudgeResponse:
        model_id = request.model_id or self._model_id
        started = self._clock.now()
        if request.deadline is not None and started >= request.deadline:
            self._final(model_id, DEADLINE_EXCEEDED)
            raise JudgeError(DEADLINE_EXCEEDED, "the caller's deadline passed before the first attempt")
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.inner.judge(request)
            except JudgeError as error:
                if not error.retryable:
                    self._final(model_id, error.code)
                    raise
                with self._rng_lock:
                    delay = self.policy.delay(attempt, error.retry_after, self._rng)
                    streak = self._unavailable_streak.get(model_id, 0)
                elapsed = max(0.0, self._clock.now() - started)
                throttled = error.code == THROTTLING
                degraded = not throttled and streak >= self.policy.degrade_after
                if (
                    degraded
                    or attempt >= self.policy.max_attempts
                    or elapsed + delay > self.policy.max_elapsed_s
                ):
                    code = THROTTLING if throttled else UNAVAILABLE
                    if not throttled:
                        with self._rng_lock:
                            self._unavailable_streak[model_id] = streak + 1
                    self._final(model_id, code)
                    why = f"not retried: the last {streak} call(s) all failed" if degraded else "gave up"
                    raise JudgeError(
                        code,
                        f"{why} after {attempt} attempt(s) in {elapsed:.1f}s; last error: {error}",
                        retryable=False,
                    ) from error
                if request.deadline is not None and self._clock.now() + delay >= request.deadline:
                    self._final(model_id, DEADLINE_EXCEEDED)
                    raise JudgeError(
                        DEADLINE_EXCEEDED,
                        f"no retry before the caller's deadline after {attempt} attempt(s) in {elapsed:.1f}s"
                        f"; last error: {error}",
                    ) from error
                if self._ledger is not None:
                    self._ledger.record_retry(model_id)
                self._clock.sleep(delay)
                continue
            with self._rng_lock:
                self._unavailable_streak.pop(model_id, None)
            return response

    def _final(self, model_id: str, code: str) -> None:
        if self._ledger is not None:
            self._ledger.record_final_error(model_id, code)
