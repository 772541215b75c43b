"""Per-model judge rate limiting: a tokens-per-minute quota, an in-flight cap, AIMD on throttles.

Bedrock quotas are tokens per minute per model, and for Claude 3.7/4.x each output token counts
`burn_factor` (5) times; the quota for `max_tokens` is reserved when a request starts and settled
when it ends. We mirror that ledger: a call reserves `input_estimate + burn_factor x max_tokens`
before it starts and gets the difference back once the real usage is known. The admission rules
(token bucket + 60 s window, AIMD and quota learning on throttles) are in `batcheval.judges.bucket`.

The bucket state lives in a `BucketStore`: in-process for local runs, DynamoDB to share one bucket
per model across concurrent Lambda invocations. The in-flight cap is always enforced per process (a
semaphore); with `SlotLeases` (e.g. `DynamoDBSlotLeases`) it is also shared: a call holds one of
`max_in_flight` leased slots per model across every invocation. A caller that cannot get capacity
before its deadline gets a `JudgeError`, never an indefinite wait.
"""

from __future__ import annotations

import logging
import math
import random
import re
import threading
from collections import deque
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
    "Lease",
    "LimitsFor",
    "ModelLimits",
    "Permit",
    "RateLimitedJudge",
    "RateLimiter",
    "SlotLeases",
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
class Lease:
    """One shared in-flight slot held until released or `expires_at` (epoch seconds)."""

    slot: int
    holder: str
    expires_at: float


class SlotLeases(Protocol):
    """Shared in-flight slots: at most `slots` leases per key at once, across processes."""

    def try_acquire(self, key: str, slots: int, now: float) -> Lease | None:
        """Take a free (or expired) slot once; None when all are held. Never waits."""
        ...

    def release(self, key: str, lease: Lease) -> bool:
        """Free the slot if `lease` still holds it; False when it expired and was taken over."""
        ...

    def busy(self, key: str, slots: int, now: float) -> int:
        """Slots held by unexpired leases."""
        ...


@dataclass(frozen=True, slots=True)
class Permit:
    """Capacity held by one call: its in-flight slot(s) and its reserved quota tokens."""

    model_id: str
    reserved: float
    input_estimate: int
    burn_factor: float
    charged_at: float
    chars: int = 0
    lease: Lease | None = None
    """The shared slot (None without `SlotLeases`)."""


LimitsFor = Callable[[str], ModelLimits | None]


@dataclass
class _Gate:
    """Per-model turn-taking for asking the bucket store (see `RateLimiter._take`)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    busy: bool = False
    retry_at: float = 0.0
    freed: int = 0
    """Shared slots this process gave back (wakes the lease poller early)."""
    queue: deque[object] = field(default_factory=deque)
    """Threads waiting for a shared slot, first come first served (the head probes)."""


class RateLimiter:
    """Grants per-model capacity (in-flight slot + reserved TPM tokens) and settles it afterwards.

    Args:
        store: where bucket state lives (`InProcessBucketStore`, `DynamoDBBucketStore`).
        limits: per model id, a mapping or a function; a model without limits is not limited.
        leases: shared in-flight slots (`DynamoDBSlotLeases`); None: the cap is per process only.
        key_prefix: namespaces bucket and slot keys (e.g. per account and Region sharing one table).
        lease_backoff_s: (first, longest) wait between tries when every shared slot is held; each
            wait is drawn uniformly up to min(longest, first x 2^n) (full jitter, `seed`ed).
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
        leases: SlotLeases | None = None,
        lease_backoff_s: tuple[float, float] = (0.05, 2.0),
        seed: int = 0,
    ) -> None:
        self._store = store
        self._limits: LimitsFor = limits.get if isinstance(limits, Mapping) else limits
        self._clock = clock
        self._ledger = ledger
        self._key_prefix = key_prefix
        self._poll_s = poll_s
        self._leases = leases
        self._lease_backoff_s = lease_backoff_s
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._in_flight: dict[str, int] = {}
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._gates: dict[str, _Gate] = {}
        self._lease_gates: dict[str, _Gate] = {}
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
        self._count_in_flight(model_id, +1)
        lease: Lease | None = None
        try:
            if self._leases is not None:
                lease = self._lease(model_id, limits, deadline)
            permit = self._reserve(model_id, limits, request, deadline, lease)
        except BaseException:
            try:
                if lease is not None:
                    self._give_back_lease(model_id, lease)
            finally:
                self._free_local_slot(model_id, limits)
            raise
        if self._ledger is not None:
            self._ledger.record_wait(model_id, max(0.0, self._clock.now() - started))
        return permit

    def _reserve(
        self, model_id: str, limits: ModelLimits, request: JudgeRequest, deadline: float, lease: Lease | None
    ) -> Permit:
        chars = request_chars(request)
        input_estimate = estimate_input_tokens(request, self.chars_per_token(model_id))
        burn = limits.burn_factor if limits.burn_factor is not None else default_burn_factor(model_id)
        cost = input_estimate + burn * request.max_tokens
        now = self._clock.now()
        if limits.token_limited:
            now = self._take(model_id, limits, cost, deadline)
        return Permit(model_id, cost, input_estimate, burn, charged_at=now, chars=chars, lease=lease)

    def _lease(self, model_id: str, limits: ModelLimits, deadline: float) -> Lease:
        """A shared in-flight slot, tried until `deadline`.

        This process's waiters queue first come first served; only the head probes the store,
        with capped exponential backoff and full jitter between probes, and at once when a thread
        of this process gives a slot back. The others nap `poll_s` until they are the head. A
        thread that finds nobody waiting probes at once (one write when a slot is free).
        """
        assert self._leases is not None
        key = self._key_prefix + model_id
        gate = self._gate_in(self._lease_gates, model_id)
        first, longest = self._lease_backoff_s
        ticket = object()
        with gate.lock:
            gate.queue.append(ticket)
        attempt = 0
        try:
            while True:
                now = self._clock.now()
                with gate.lock:
                    head = gate.queue[0] is ticket
                    seen = gate.freed
                if not head:
                    if now >= deadline:
                        self._timed_out(model_id, limits, "a shared in-flight slot")
                    self._clock.sleep(min(self._poll_s, deadline - now))
                    continue
                lease = self._leases.try_acquire(key, limits.max_in_flight, now)
                if lease is not None:
                    return lease
                now = self._clock.now()
                if now >= deadline:
                    self._timed_out(model_id, limits, "a shared in-flight slot")
                with self._rng_lock:
                    nap = self._rng.uniform(0.0, min(longest, first * 2.0 ** min(attempt, 30)))
                attempt += 1  # the exponent is capped: 2.0 ** 1100 would overflow a float
                self._nap_until_freed(gate, seen, min(now + nap, deadline))
        finally:
            with gate.lock:
                gate.queue.remove(ticket)

    def _nap_until_freed(self, gate: _Gate, seen: int, until: float) -> None:
        """Sleep until `until`, in `poll_s` steps, or until this process frees a slot."""
        while True:
            now = self._clock.now()
            if now >= until:
                return
            with gate.lock:
                if gate.freed != seen:
                    return
            self._clock.sleep(min(self._poll_s, until - now))

    def _give_back_lease(self, model_id: str, lease: Lease) -> None:
        """Free a shared slot. Never raises: a slot we cannot free (store down) frees itself when
        its lease expires, and the call's own outcome (verdict or error) must come through."""
        assert self._leases is not None
        try:
            released = self._leases.release(self._key_prefix + model_id, lease)
        except JudgeError:
            logger.exception(
                "in-flight lease of %s slot %d not released; it expires by itself", model_id, lease.slot
            )
            return
        if released:
            gate = self._gate_in(self._lease_gates, model_id)
            with gate.lock:
                gate.freed += 1
            return
        logger.warning(
            "in-flight lease of %s slot %d had expired and was taken over; the call outlived lease_ttl_s",
            model_id,
            lease.slot,
        )

    def _count_in_flight(self, model_id: str, change: int) -> None:
        with self._slots_lock:
            self._in_flight[model_id] = self._in_flight.get(model_id, 0) + change

    def _free_local_slot(self, model_id: str, limits: ModelLimits) -> None:
        self._count_in_flight(model_id, -1)
        self._slot(model_id, limits).release()

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
        return self._gate_in(self._gates, model_id)

    def _gate_in(self, gates: dict[str, _Gate], model_id: str) -> _Gate:
        with self._slots_lock:
            gate = gates.get(model_id)
            if gate is None:
                gate = gates[model_id] = _Gate()
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
            try:
                if permit.lease is not None:
                    self._give_back_lease(permit.model_id, permit.lease)
            finally:
                self._free_local_slot(permit.model_id, limits)

    def current_rate(self, model_id: str) -> float | None:
        """Current refill rate in tokens per minute (after AIMD), or None when not limited."""
        limits = self._limits(model_id)
        if limits is None or not limits.token_limited:
            return None
        now = self._clock.now()
        return 60.0 * rate_at(self._store.snapshot(self._key_prefix + model_id, limits, now), limits, now)

    def status(self, model_id: str) -> dict[str, float | int | str] | None:
        """The limiter's view of a model for the job summary (None when the model is not limited).

        `maxInFlight` is the cap and `inFlightScope` where it holds (`shared`: across every
        invocation through the slot leases; `process`: this process only); `inFlight` is the calls
        holding a slot now, in that scope. With a TPM quota also: `configuredTpm` is what we were
        told, `believedTpm` what we currently assume after throttles, `rateTpm` the current
        admission rate, `windowTokens` what we reserved in the last 60 s, and `throttles`.
        """
        limits = self._limits(model_id)
        if limits is None:
            return None
        now = self._clock.now()
        status: dict[str, float | int | str] = {"maxInFlight": limits.max_in_flight}
        if self._leases is not None:
            status["inFlightScope"] = "shared"
            status["inFlight"] = self._leases.busy(self._key_prefix + model_id, limits.max_in_flight, now)
        else:
            status["inFlightScope"] = "process"
            with self._slots_lock:
                status["inFlight"] = self._in_flight.get(model_id, 0)
        if not limits.token_limited:
            return status
        state = self._store.snapshot(self._key_prefix + model_id, limits, now)
        return status | {
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
