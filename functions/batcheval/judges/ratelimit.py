"""Per-model judge rate limiting: a tokens-per-minute bucket, an in-flight cap, AIMD on throttles.

Bedrock quotas are tokens per minute per model, and for Claude 3.7/4.x each output token counts
`burn_factor` (5) times; the quota for `max_tokens` is reserved when a request starts and settled
when it ends. We mirror that ledger: a call reserves `input_estimate + burn_factor x max_tokens`
before it starts and gets the difference back once the real usage is known. The bucket refills at
`target_utilisation x TPM` per minute and holds `burst_seconds` of refill, so any 60 s window spends
at most `(target_utilisation x (1 + burst_seconds / 60)) x TPM`, under the quota by default.

When the server throttles anyway (the configured quota was wrong, or another client shares it) the
rate is halved (at most once per `throttle_cooldown_s`) and then recovers additively back to the
configured rate over `recovery_s`, so a wrong quota converges to a sawtooth below the real one.

The bucket state lives in a `BucketStore`: in-process for local runs, DynamoDB to share one bucket
per model across concurrent Lambda invocations. The in-flight cap is per process (a Lambda runs one
batch; Map concurrency bounds the processes). A caller that cannot get capacity before its deadline
gets a `JudgeError`, never an indefinite wait.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

import orjson

from batcheval.errors import JudgeError
from batcheval.judges.accounting import JudgeLedger
from batcheval.judges.base import Judge, JudgeRequest, JudgeResponse
from batcheval.judges.clock import SYSTEM_CLOCK, Clock

# Claude 3.7 and every Claude 4+ family (claude-sonnet-4-5, claude-opus-4-1, claude-haiku-4-5 ...).
_CLAUDE_5X = re.compile(r"claude-(?:3-7|(?:opus|sonnet|haiku)-[4-9]|[4-9])")


def default_burn_factor(model_id: str) -> float:
    """Output-token burndown Bedrock applies to `model_id`: 5 for Claude 3.7/4.x, else 1."""
    return 5.0 if _CLAUDE_5X.search(model_id) else 1.0


def estimate_input_tokens(request: JudgeRequest, chars_per_token: float = 3.5) -> int:
    """Pessimistic input-token estimate from character counts (rubric + transcript + tool schema).

    3.5 characters per token over-reserves English slightly; the refund settles the difference.
    """
    chars = len(request.system) + len(request.prompt) + len(orjson.dumps(request.output_schema))
    return math.ceil(chars / chars_per_token) + 50


@dataclass(frozen=True, slots=True)
class ModelLimits:
    """Limits for one model id."""

    tokens_per_minute: float
    """The account's TPM quota for the model (Service Quotas); `math.inf`: in-flight cap only."""
    max_in_flight: int = 16
    burn_factor: float | None = None
    """Output-token weight; None derives it from the model id (`default_burn_factor`)."""
    target_utilisation: float = 0.9
    burst_seconds: float = 5.0
    recovery_s: float = 120.0
    """Time for the additive increase to climb from zero to the configured rate."""
    min_rate_fraction: float = 0.05
    throttle_cooldown_s: float = 5.0
    acquire_timeout_s: float = 300.0
    """Longest a caller waits for capacity before its call fails with ThrottlingException."""

    def __post_init__(self) -> None:
        if self.tokens_per_minute <= 0 or self.max_in_flight < 1:
            raise ValueError("tokens_per_minute must be > 0 and max_in_flight >= 1")
        if not 0 < self.target_utilisation <= 1:
            raise ValueError("target_utilisation must be in (0, 1]")

    @property
    def token_limited(self) -> bool:
        return math.isfinite(self.tokens_per_minute)

    @property
    def full_rate(self) -> float:
        """Refill in tokens per second when not throttled."""
        return self.tokens_per_minute * self.target_utilisation / 60.0

    @property
    def capacity(self) -> float:
        return self.full_rate * self.burst_seconds

    def burn(self, model_id: str) -> float:
        return self.burn_factor if self.burn_factor is not None else default_burn_factor(model_id)


@dataclass(frozen=True, slots=True)
class BucketState:
    """One model's bucket. `floor_rate`/`decreased_at` describe the AIMD ramp (None: full rate)."""

    tokens: float
    updated_at: float
    version: int = 0
    floor_rate: float | None = None
    decreased_at: float | None = None
    throttles: int = 0


def initial_state(limits: ModelLimits, now: float) -> BucketState:
    return BucketState(tokens=limits.capacity, updated_at=now)


def rate_at(state: BucketState, limits: ModelLimits, now: float) -> float:
    """Current refill rate (tokens/s): the AIMD ramp from the last decrease, capped at full rate."""
    if state.floor_rate is None or state.decreased_at is None:
        return limits.full_rate
    climbed = limits.full_rate / limits.recovery_s * max(0.0, now - state.decreased_at)
    return min(limits.full_rate, state.floor_rate + climbed)


def refilled(state: BucketState, limits: ModelLimits, now: float) -> BucketState:
    elapsed = max(0.0, now - state.updated_at)
    # Trapezoid over the linear ramp: exact until the cap, slightly generous after it.
    average_rate = (rate_at(state, limits, state.updated_at) + rate_at(state, limits, now)) / 2
    tokens = min(limits.capacity, state.tokens + elapsed * average_rate)
    return replace(state, tokens=tokens, updated_at=max(now, state.updated_at))


def take(state: BucketState, cost: float, limits: ModelLimits, now: float) -> tuple[BucketState, float]:
    """Try to take `cost` tokens. Returns (new state, 0.0) or (refilled state, seconds to wait).

    A cost above the bucket capacity is granted once the bucket is full (the balance goes negative
    and later calls wait it off), so a huge request is slowed, never starved.
    """
    current = refilled(state, limits, now)
    needed = min(cost, limits.capacity)
    if current.tokens >= needed:
        return replace(current, tokens=current.tokens - cost, version=current.version + 1), 0.0
    rate = max(rate_at(current, limits, now), limits.full_rate * limits.min_rate_fraction)
    return current, (needed - current.tokens) / rate


def throttled(state: BucketState, limits: ModelLimits, now: float) -> BucketState | None:
    """The state after a server throttle: rate halved, bucket emptied. None inside the cooldown."""
    current = refilled(state, limits, now)
    if current.decreased_at is not None and now - current.decreased_at < limits.throttle_cooldown_s:
        return None
    floor = max(rate_at(current, limits, now) / 2, limits.full_rate * limits.min_rate_fraction)
    return replace(
        current,
        tokens=min(current.tokens, 0.0),
        floor_rate=floor,
        decreased_at=now,
        version=current.version + 1,
        throttles=current.throttles + 1,
    )


class BucketStore(Protocol):
    """Where bucket state lives. Every method is atomic per key."""

    def try_take(self, key: str, cost: float, limits: ModelLimits, now: float) -> float:
        """Take `cost` tokens and return 0.0, or take nothing and return seconds to wait."""
        ...

    def give_back(self, key: str, tokens: float, limits: ModelLimits, now: float) -> None:
        """Return unused reserved tokens (negative: charge extra)."""
        ...

    def note_throttle(self, key: str, limits: ModelLimits, now: float) -> bool:
        """Apply a multiplicative decrease; False when another caller just did."""
        ...

    def current_rate(self, key: str, limits: ModelLimits, now: float) -> float: ...


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

    def give_back(self, key: str, tokens: float, limits: ModelLimits, now: float) -> None:
        with self._lock:
            state = self._get(key, limits, now)
            self._states[key] = replace(state, tokens=state.tokens + tokens, version=state.version + 1)

    def note_throttle(self, key: str, limits: ModelLimits, now: float) -> bool:
        with self._lock:
            state = throttled(self._get(key, limits, now), limits, now)
            if state is None:
                return False
            self._states[key] = state
            return True

    def current_rate(self, key: str, limits: ModelLimits, now: float) -> float:
        with self._lock:
            return rate_at(self._get(key, limits, now), limits, now)


@dataclass(frozen=True, slots=True)
class Permit:
    """Capacity held by one call: its in-flight slot and its reserved quota tokens."""

    model_id: str
    reserved: float
    input_estimate: int
    burn_factor: float


LimitsFor = Callable[[str], ModelLimits | None]


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
        input_estimate = estimate_input_tokens(request)
        burn = limits.burn(model_id)
        cost = input_estimate + burn * request.max_tokens
        key = self._key_prefix + model_id
        try:
            while limits.token_limited:
                now = self._clock.now()
                wait = self._store.try_take(key, cost, limits, now)
                if wait == 0.0:
                    break
                if now + wait > deadline:
                    self._timed_out(model_id, limits, f"{cost:.0f} quota tokens")
                self._clock.sleep(min(max(wait, self._poll_s), deadline - now))
        except BaseException:
            self._slot(model_id, limits).release()
            raise
        if self._ledger is not None:
            self._ledger.record_wait(model_id, max(0.0, self._clock.now() - started))
        return Permit(model_id, cost, input_estimate, burn)

    def _timed_out(self, model_id: str, limits: ModelLimits, what: str) -> None:
        raise JudgeError(
            "ThrottlingException",
            f"no judge capacity ({what}) for {model_id} within {limits.acquire_timeout_s:.0f}s",
            retryable=False,
        )

    def release(self, permit: Permit, *, used: float | None, throttled: bool = False) -> None:
        """Settle a permit. `used` is the quota actually charged (None: unknown, keep the input)."""
        limits = self._limits(permit.model_id)
        if limits is None:
            return
        key = self._key_prefix + permit.model_id
        now = self._clock.now()
        try:
            if not limits.token_limited:
                pass
            elif throttled:
                # A throttled request is not charged by the server.
                self._store.give_back(key, permit.reserved, limits, now)
                self._store.note_throttle(key, limits, now)
            else:
                charged = used if used is not None else float(permit.input_estimate)
                if charged != permit.reserved:
                    self._store.give_back(key, permit.reserved - charged, limits, now)
        finally:
            self._slot(permit.model_id, limits).release()

    def current_rate(self, model_id: str) -> float | None:
        """Current refill rate in tokens per minute (after AIMD), or None when not limited."""
        limits = self._limits(model_id)
        if limits is None or not limits.token_limited:
            return None
        return 60.0 * self._store.current_rate(self._key_prefix + model_id, limits, self._clock.now())


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
            self.limiter.release(permit, used=used)
        if self._ledger is not None:
            self._ledger.record_success(
                model_id,
                response.usage.input_tokens,
                response.usage.output_tokens,
                used,
                estimated=response.usage_estimated,
            )
        return response
