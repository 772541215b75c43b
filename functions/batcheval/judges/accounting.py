"""Judge token accounting: what every model consumed, for the job summary and the cost report.

One `JudgeLedger` is shared by the wrappers of a run (`RateLimitedJudge`, `RetryingJudge`); it is
thread-safe and only ever adds, so totals from many threads are exact.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ModelUsage:
    """Totals for one model id. Token counts are what the servers reported (see `estimated_calls`)."""

    calls: int = 0
    """Attempts that reached the backend (a retried call counts once per attempt)."""
    succeeded: int = 0
    failed: int = 0
    throttled: int = 0
    """Attempts the server rejected with ThrottlingException / HTTP 429."""
    retries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    quota_tokens: float = 0.0
    """Tokens charged against the TPM quota (input + burn_factor x output) by successful calls."""
    estimated_calls: int = 0
    """Successful calls whose usage the server did not report (counts are estimates)."""
    rate_limit_wait_s: float = 0.0
    """Time callers spent waiting for rate-limit capacity."""
    errors: dict[str, int] = field(default_factory=dict)
    """Final failures by JudgeError code."""


class JudgeLedger:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[str, ModelUsage] = {}

    def _model(self, model_id: str) -> ModelUsage:
        usage = self._models.get(model_id)
        if usage is None:
            usage = self._models[model_id] = ModelUsage()
        return usage

    def record_success(
        self, model_id: str, input_tokens: int, output_tokens: int, quota_tokens: float, *, estimated: bool
    ) -> None:
        with self._lock:
            usage = self._model(model_id)
            usage.calls += 1
            usage.succeeded += 1
            usage.input_tokens += input_tokens
            usage.output_tokens += output_tokens
            usage.quota_tokens += quota_tokens
            usage.estimated_calls += int(estimated)

    def record_failure(self, model_id: str, code: str, *, throttled: bool) -> None:
        """One attempt failed (it may still be retried)."""
        with self._lock:
            usage = self._model(model_id)
            usage.calls += 1
            usage.failed += 1
            usage.throttled += int(throttled)

    def record_retry(self, model_id: str) -> None:
        with self._lock:
            self._model(model_id).retries += 1

    def record_final_error(self, model_id: str, code: str) -> None:
        """A call gave up: it becomes one result's error."""
        with self._lock:
            errors = self._model(model_id).errors
            errors[code] = errors.get(code, 0) + 1

    def record_wait(self, model_id: str, seconds: float) -> None:
        with self._lock:
            self._model(model_id).rate_limit_wait_s += seconds

    def snapshot(self) -> dict[str, ModelUsage]:
        """A copy of the totals per model id."""
        with self._lock:
            return {
                model: ModelUsage(**{**asdict(usage), "errors": dict(usage.errors)})
                for model, usage in self._models.items()
            }

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """JSON-ready totals per model id for the job summary, in the API's camelCase."""
        return {
            model: {
                "calls": usage.calls,
                "succeeded": usage.succeeded,
                "failed": usage.failed,
                "throttled": usage.throttled,
                "retries": usage.retries,
                "inputTokens": usage.input_tokens,
                "outputTokens": usage.output_tokens,
                "quotaTokens": round(usage.quota_tokens, 1),
                "estimatedCalls": usage.estimated_calls,
                "rateLimitWaitSeconds": round(usage.rate_limit_wait_s, 3),
                "errors": dict(usage.errors),
            }
            for model, usage in sorted(self.snapshot().items())
        }
