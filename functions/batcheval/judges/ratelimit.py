"""Per-model judge rate limiting: a tokens-per-minute quota, an in-flight cap, AIMD on throttles.

Bedrock quotas are tokens per minute per model, and for Claude 3.7/4.x each output token counts
`burn_factor` (5) times; the quota for `max_tokens` is reserved when a request starts and settled
when it ends. We mirror that ledger: a call reserves `input_estimate + burn_factor x max_tokens`
before it starts and gets the difference back once the real usage is known. The admission rules
(token bucket + 60 s window, AIMD and quota learning on throttles) are in `batcheval.judges.bucket`.

The bucket state lives in a `BucketStore`: in-process for local runs, DynamoDB to share one bucket
per model across concurrent Lambda invocations. The in-flight cap is per process (a Lambda runs one
batch; Map concurrency bounds the processes). A caller that cannot get capacity before its deadline
gets a `JudgeError`, never an indefinite wait.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NoReturn, Protocol

import orjson

from batcheval.errors import JudgeError
from batcheval.judges.accounting import JudgeLedger
from batcheval.judges.base import Judge, JudgeRequest, JudgeResponse
from batcheval.judges.bucket import (
    BucketState,
    ModelLimits,
    given_back,
    initial_state,
    quota_at,
    rate_at,
    refilled,
    take,
    throttled,
    window_spend,
)
from batcheval.judges.clock import SYSTEM_CLOCK, Clock

__all__ = [
    "BucketStore",
    "InProcessBucketStore",
    "LimitsFor",
    "ModelLimits",
    "Permit",
    "RateLimitedJudge",
    "RateLimiter",
    "default_burn_factor",
    "estimate_input_tokens",
    "request_chars",
]

logger = logging.getLogger(__name__)

# Claude 3.7 and every Claude 4+ family (claude-sonnet-4-5, claude-opus-4-1, claude-haiku-4-5 ...).
_CLAUDE_5X = re.compile(r"claude-(?:3-7|(?:opus|sonnet|haiku)-[4-9]|[4-9])")


def default_burn_factor(model_id: str) -> float:
    """Output-token burndown Bedrock applies to `model_id`: 5 for Claude 3.7/4.x, else 1."""
    return 5.0 if _CLAUDE_5X.search(model_id) else 1.0


DEFAULT_CHARS_PER_TOKEN = 3.5


def request_chars(request: JudgeRequest) -> int:
    """Characters the model reads: rubric + transcript + the output tool's schema."""
    return len(request.system) + len(request.prompt) + len(orjson.dumps(request.output_schema))


def estimate_input_tokens(request: JudgeRequest, chars_per_token: float = DEFAULT_CHARS_PER_TOKEN) -> int:
    """Pessimistic input-token estimate from character counts.

    3.5 characters per token over-reserves English slightly; the refund settles the difference. The
    limiter calibrates the ratio per model from reported usage (text in other scripts can be near
    one character per token).
    """
    return math.ceil(request_chars(request) / chars_per_token) + 50


class BucketStore(Protocol):
    """Where bucket state lives. Every method is atomic per key."""

    def try_take(self, key: str, cost: float, limits: ModelLimits, now: float) -> float:
        """Take `cost` tokens and return 0.0, or take nothing and return seconds to wait."""
        ...

    def give_back(self, key: str, tokens: float, charged_at: float, limits: ModelLimits, now: float) -> None:
        """Return unused reserved tokens (negative: charge extra) charged at time `charged_at`."""
        ...

    def note_throttle(self, key: str, limits: ModelLimits, now: float) -> bool:
        """Apply a multiplicative decrease; False when another caller just did."""
        ...

    def snapshot(self, key: str, limits: ModelLimits, now: float) -> BucketState:
        """The bucket as of `now` (refilled; nothing written)."""
        ...


class InProcessBucketStore:
    """Bucket state in this process, guarded by one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, BucketState] = {}

    def _get(self, key: str, limits: ModelLimits, now: float) -> BucketState:
        state = self._states.get(key)
        return state if state is not None else initial_state(limits, now)

    def try_take(self, key: str, cost: float, limits: ModelLimits, now: float) -> float:
        with self._lock:
            state, wait = take(self._get(key, limits, now), cost, limits, now)
            self._states[key] = state
            return wait

    def give_back(self, key: str, tokens: float, charged_at: float, limits: ModelLimits, now: float) -> None:
        with self._lock:
            self._states[key] = given_back(self._get(key, limits, now), tokens, charged_at, limits, now)

    def note_throttle(self, key: str, limits: ModelLimits, now: float) -> bool:
        with self._lock:
            state = throttled(self._get(key, limits, now), limits, now)
            if state is None:
                return False
            self._states[key] = state
            return True

    def snapshot(self, key: str, limits: ModelLimits, now: float) -> BucketState:
        with self._lock:
            return refilled(self._get(key, limits, now), limits, now)


@dataclass(frozen=True, slots=True)
class Permit:
    """Capacity held by one call: its in-flight slot and its reserved quota tokens."""

    model_id: str
    reserved: float
    input_estimate: int
    burn_factor: float
    charged_at: float
    chars: int = 0


LimitsFor = Callable[[str], ModelLimits | None]


@dataclass
class _Gate:
    """Per-model turn-taking for asking the bucket store (see `RateLimiter._take`)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    busy: bool = False
    retry_at: float = 0.0


class RateLimiter:
    """Grants per-model capacity (in-flight slot + reserved TPM tokens) and settles it afterwards.

    Args:
        store: where bucket state lives (`InProcessBucketStore`, `DynamoDBBucketStore`).
        limits: per model id, a mapping or a function; a model without limits is not limited.
        key_prefix: namespaces bucket keys (e.g. per account and Region sharing one table).
    """

    def __init__(
        self,
        store: BucketStore,
        limits: Mapping[str, ModelLimits] | LimitsFor,
        *,
        clock: Clock = SYSTEM_CLOCK,
        ledger: JudgeLedger | None = None,
        key_prefix: str = "",
        poll_s: float = 0.05,
    ) -> None:
        self._store = store
        self._limits: LimitsFor = limits.get if isinstance(limits, Mapping) else limits
        self._clock = clock
        self._ledger = ledger
        self._key_prefix = key_prefix
        self._poll_s = poll_s
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._gates: dict[str, _Gate] = {}
        self._chars_per_token: dict[str, float] = {}
        self._slots_lock = threading.Lock()

    def limits_for(self, model_id: str) -> ModelLimits | None:
        return self._limits(model_id)

    def _slot(self, model_id: str, limits: ModelLimits) -> threading.BoundedSemaphore:
        with self._slots_lock:
            slot = self._slots.get(model_id)
            if slot is None:
                slot = self._slots[model_id] = threading.BoundedSemaphore(limits.max_in_flight)
            return slot

    def acquire(self, model_id: str, request: JudgeRequest) -> Permit | None:
        """Block until the call may start; None when the model is not limited.

        Raises JudgeError(ThrottlingException) when no capacity came within `acquire_timeout_s`.
        """
        limits = self._limits(model_id)
        if limits is None:
            return None
        started = self._clock.now()
        deadline = started + limits.acquire_timeout_s
        if not self._slot(model_id, limits).acquire(timeout=limits.acquire_timeout_s):
            self._timed_out(model_id, limits, "an in-flight slot")
        chars = request_chars(request)
        input_estimate = estimate_input_tokens(request, self.chars_per_token(model_id))
        burn = limits.burn_factor if limits.burn_factor is not None else default_burn_factor(model_id)
        cost = input_estimate + burn * request.max_tokens
        now = self._clock.now()
        try:
            if limits.token_limited:
                now = self._take(model_id, limits, cost, deadline)
        except BaseException:
            self._slot(model_id, limits).release()
            raise
        if self._ledger is not None:
            self._ledger.record_wait(model_id, max(0.0, self._clock.now() - started))
        return Permit(model_id, cost, input_estimate, burn, charged_at=now, chars=chars)

    def _take(self, model_id: str, limits: ModelLimits, cost: float, deadline: float) -> float:
        """Reserve `cost` tokens; returns the time they were charged.

        Only one thread per model and process (the gate's owner) asks the store at a time; the others
        nap until just after the owner's next try. Waiting callers thus cost one store read per
        grant and process, not one per thread (the DynamoDB item is one hot key).
        """
        key = self._key_prefix + model_id
        gate = self._gate(model_id)
        owner = False
        try:
            while True:
                now = self._clock.now()
                if not owner:
                    with gate.lock:
                        owner = not gate.busy
                        gate.busy = gate.busy or owner
                        nap = max(gate.retry_at - now, 0.0) + self._poll_s
                    if not owner:
                        if now + nap > deadline:
                            self._timed_out(model_id, limits, f"{cost:.0f} quota tokens")
                        self._clock.sleep(nap)
                        continue
                wait = self._store.try_take(key, cost, limits, now)
                if wait == 0.0:
                    return now
                if now + wait > deadline:
                    self._timed_out(model_id, limits, f"{cost:.0f} quota tokens")
                with gate.lock:
                    gate.retry_at = now + wait
                self._clock.sleep(wait)
        finally:
            if owner:
                with gate.lock:
                    gate.busy = False

    def _gate(self, model_id: str) -> _Gate:
        with self._slots_lock:
            gate = self._gates.get(model_id)
            if gate is None:
                gate = self._gates[model_id] = _Gate()
            return gate

    def _timed_out(self, model_id: str, limits: ModelLimits, what: str) -> NoReturn:
        raise JudgeError(
            "ThrottlingException",
            f"no judge capacity ({what}) for {model_id} within {limits.acquire_timeout_s:.0f}s",
            retryable=False,
        )

    def chars_per_token(self, model_id: str) -> float:
        """The ratio used for input estimates: 90 % of what was observed, never above 3.5."""
        with self._slots_lock:
            observed = self._chars_per_token.get(model_id)
        if observed is None:
            return DEFAULT_CHARS_PER_TOKEN
        return max(0.5, min(DEFAULT_CHARS_PER_TOKEN, 0.9 * observed))

    def _observe_input(self, permit: Permit, input_tokens: int) -> None:
        if input_tokens <= 0 or permit.chars <= 0:
            return
        ratio = permit.chars / input_tokens
        with self._slots_lock:
            previous = self._chars_per_token.get(permit.model_id)
            self._chars_per_token[permit.model_id] = (
                ratio if previous is None else 0.8 * previous + 0.2 * ratio
            )

    def release(
        self, permit: Permit, *, used: float | None, throttled: bool = False, input_tokens: int | None = None
    ) -> None:
        """Settle a permit. `used` is the quota actually charged (None: unknown, keep the input);
        `input_tokens` (server-reported) calibrates later input estimates."""
        limits = self._limits(permit.model_id)
        if limits is None:
            return
        if input_tokens is not None:
            self._observe_input(permit, input_tokens)
        key = self._key_prefix + permit.model_id
        now = self._clock.now()
        try:
            if not limits.token_limited:
                pass
            elif throttled:
                # A throttled request is not charged by the server.
                self._store.give_back(key, permit.reserved, permit.charged_at, limits, now)
                self._store.note_throttle(key, limits, now)
            else:
                charged = used if used is not None else float(permit.input_estimate)
                if charged != permit.reserved:
                    self._store.give_back(key, permit.reserved - charged, permit.charged_at, limits, now)
        finally:
            self._slot(permit.model_id, limits).release()

    def current_rate(self, model_id: str) -> float | None:
        """Current refill rate in tokens per minute (after AIMD), or None when not limited."""
        limits = self._limits(model_id)
        if limits is None or not limits.token_limited:
            return None
        now = self._clock.now()
        return 60.0 * rate_at(self._store.snapshot(self._key_prefix + model_id, limits, now), limits, now)

    def status(self, model_id: str) -> dict[str, float | int] | None:
        """The limiter's view of a model for the job summary (None when not token-limited).

        `configuredTpm` is what we were told, `believedTpm` what we currently assume after throttles,
        `rateTpm` the current admission rate, `windowTokens` what we reserved in the last 60 s.
        """
        limits = self._limits(model_id)
        if limits is None or not limits.token_limited:
            return None
        now = self._clock.now()
        state = self._store.snapshot(self._key_prefix + model_id, limits, now)
        return {
            "configuredTpm": limits.tokens_per_minute,
            "believedTpm": round(quota_at(state, limits, now)),
            "rateTpm": round(60.0 * rate_at(state, limits, now)),
            "windowTokens": round(window_spend(state, limits, now)),
            "throttles": state.throttles,
        }


class RateLimitedJudge:
    """Wraps a judge so every call first gets capacity from the limiter and settles it afterwards.

    Compose as `RetryingJudge(RateLimitedJudge(backend, limiter), policy)`: each attempt is admitted
    separately, and a throttle feeds the limiter's AIMD before the retry waits.
    """

    def __init__(
        self, inner: Judge, limiter: RateLimiter, *, model_id: str, ledger: JudgeLedger | None = None
    ) -> None:
        self.inner = inner
        self.limiter = limiter
        self._model_id = model_id
        self._ledger = ledger

    def judge(self, request: JudgeRequest) -> JudgeResponse:
        model_id = request.model_id or self._model_id
        permit = self.limiter.acquire(model_id, request)
        try:
            response = self.inner.judge(request)
        except JudgeError as error:
            is_throttle = error.code == "ThrottlingException"
            if permit is not None:
                self.limiter.release(permit, used=None, throttled=is_throttle)
            if self._ledger is not None:
                self._ledger.record_failure(model_id, error.code, throttled=is_throttle)
            raise
        except BaseException:
            if permit is not None:
                self.limiter.release(permit, used=None)
            raise
        burn = permit.burn_factor if permit is not None else default_burn_factor(model_id)
        used = response.usage.input_tokens + burn * response.usage.output_tokens
        if permit is not None:
            reported = None if response.usage_estimated else response.usage.input_tokens
            try:
                self.limiter.release(permit, used=used, input_tokens=reported)
            except Exception:
                # The model answered and its tokens are spent: a bucket store that cannot be
                # settled (DynamoDB down or contended) must not throw the verdict away. The bucket
                # merely keeps this call's over-reservation until it refills.
                logger.exception("rate-limit settlement failed model=%s; the verdict is kept", model_id)
        if self._ledger is not None:
            self._ledger.record_success(
                model_id,
                response.usage.input_tokens,
                response.usage.output_tokens,
                used,
                estimated=response.usage_estimated,
            )
        return response
