"""Per-model judge rate limiting: a tokens-per-minute quota, an in-flight cap, AIMD on throttles.

Bedrock quotas are tokens per minute per model, and for Claude 3.7/4.x each output token counts
`burn_factor` (5) times; the quota for `max_tokens` is reserved when a request starts and settled
when it ends. We mirror that ledger: a call reserves `input_estimate + burn_factor x max_tokens`
before it starts and gets the difference back once the real usage is known. The admission rules
(token bucket + 60 s window, AIMD and quota learning on throttles) are in `batcheval.judges.bucket`.

The bucket state lives in a `BucketStore`: in-process for local runs, DynamoDB to share one bucket
per model across concurrent Lambda invocations. The in-flight cap is per process (`InProcessSlotLeases`)
or, with `DynamoDBSlotLeases`, shared: a call holds one of `max_in_flight` leased slots per model
across every invocation. Waiting calls are served in arrival order (a `TicketQueue`, shared through
DynamoDB with `DynamoDBTicketQueue`). A caller that cannot get capacity before its deadline (its own
`JudgeRequest.deadline`, else `acquire_timeout_s`) gets a `JudgeError`, never an indefinite wait.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NoReturn, Protocol

import msgspec

from batcheval.errors import JudgeError
from batcheval.judges.accounting import JudgeLedger
from batcheval.judges.base import DEADLINE_EXCEEDED, Judge, JudgeRequest, JudgeResponse
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
from batcheval.judges.queue import InProcessTicketQueue, TicketQueue

__all__ = [
    "BucketStore",
    "InProcessBucketStore",
    "InProcessSlotLeases",
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
    return len(request.system) + len(request.prompt) + len(msgspec.json.encode(request.output_schema))


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
    """One in-flight slot held until released or `expires_at` (epoch seconds)."""

    slot: int
    holder: str
    expires_at: float


class SlotLeases(Protocol):
    """In-flight slots: at most `slots` leases per key at once (shared across processes or not)."""

    def try_acquire(self, key: str, slots: int, now: float) -> Lease | None:
        """Take a free (or expired) slot once; None when all are held. Never waits."""
        ...

    def release(self, key: str, lease: Lease) -> bool:
        """Free the slot if `lease` still holds it; False when it expired and was taken over."""
        ...

    def busy(self, key: str, slots: int, now: float) -> int:
        """Slots held by unexpired leases."""
        ...


class InProcessSlotLeases:
    """The in-flight cap of this process alone (used when no shared leases are given)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, set[int]] = {}

    def try_acquire(self, key: str, slots: int, now: float) -> Lease | None:
        with self._lock:
            held = self._held.setdefault(key, set())
            free = next((slot for slot in range(slots) if slot not in held), None)
            if free is None:
                return None
            held.add(free)
            return Lease(free, "process", math.inf)

    def release(self, key: str, lease: Lease) -> bool:
        with self._lock:
            self._held.get(key, set()).discard(lease.slot)
            return True

    def busy(self, key: str, slots: int, now: float) -> int:
        with self._lock:
            return len(self._held.get(key, ()))


@dataclass(frozen=True, slots=True)
class Permit:
    """Capacity held by one call: its in-flight slot and its reserved quota tokens."""

    model_id: str
    reserved: float
    input_estimate: int
    burn_factor: float
    charged_at: float
    chars: int = 0
    lease: Lease | None = None
    """The in-flight slot."""


LimitsFor = Callable[[str], ModelLimits | None]

_LONGEST_NAP_S = 1.0
"""Longest sleep of a waiting call between looks: the head must keep itself alive (see
`TicketQueue.keep`) and waiters must notice their turn."""


@dataclass(frozen=True, slots=True)
class _Wait:
    """One call's wait for capacity: until `deadline`, set by the caller or by `acquire_timeout_s`."""

    model_id: str
    key: str
    limits: ModelLimits
    deadline: float
    by_caller: bool
    """True when the caller's own deadline (`JudgeRequest.deadline`) is the binding one."""


class RateLimiter:
    """Grants per-model capacity (in-flight slot + reserved TPM tokens) and settles it afterwards.

    Calls are served first come, first served: each takes a ticket (`queue`), and only the head of
    the queue asks for a slot and then for tokens; it leaves the queue once it holds both, or when it
    gives up at its deadline. Nobody is overtaken, so no caller starves, and the wait of the slowest
    caller stays near that of the others.

    Args:
        store: where bucket state lives (`InProcessBucketStore`, `DynamoDBBucketStore`).
        limits: per model id, a mapping or a function; a model without limits is not limited.
        leases: shared in-flight slots (`DynamoDBSlotLeases`); None: the cap is per process.
        queue: the order of waiting calls (`DynamoDBTicketQueue` across processes); None: per process.
        key_prefix: namespaces bucket, slot and queue keys (e.g. per account and Region sharing one table).
        poll_s: a waiting call looks at the queue every `poll_s` x its distance from the head (at
            most every second).
        lease_backoff_s: (first, longest) wait of the head between tries while every slot is held
            (doubling; it is the only caller trying, so no jitter); a slot this process frees wakes it.
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
        queue: TicketQueue | None = None,
        lease_backoff_s: tuple[float, float] = (0.05, 0.25),
    ) -> None:
        self._store = store
        self._limits: LimitsFor = limits.get if isinstance(limits, Mapping) else limits
        self._clock = clock
        self._ledger = ledger
        self._key_prefix = key_prefix
        self._poll_s = poll_s
        self._shared = leases is not None
        self._leases: SlotLeases = leases if leases is not None else InProcessSlotLeases()
        self._queue: TicketQueue = queue if queue is not None else InProcessTicketQueue()
        self._lease_backoff_s = lease_backoff_s
        self._lock = threading.Lock()
        self._freed: dict[str, int] = {}
        """Slots this process gave back, per model (wakes the head of the queue early)."""
        self._chars_per_token: dict[str, float] = {}

    def limits_for(self, model_id: str) -> ModelLimits | None:
        return self._limits(model_id)

    def acquire(self, model_id: str, request: JudgeRequest) -> Permit | None:
        """Block until the call may start; None when the model is not limited.

        Raises JudgeError: `JudgeDeadlineExceeded` when no capacity came before the request's
        `deadline`, else `ThrottlingException` when none came within `acquire_timeout_s`.
        """
        limits = self._limits(model_id)
        if limits is None:
            return None
        started = self._clock.now()
        deadline = started + limits.acquire_timeout_s
        by_caller = request.deadline is not None and request.deadline < deadline
        if request.deadline is not None and by_caller:
            deadline = request.deadline
        wait = _Wait(model_id, self._key_prefix + model_id, limits, deadline, by_caller)
        ticket = self._turn(wait)
        lease: Lease | None = None
        try:
            lease = self._lease(wait, ticket)
            permit = self._reserve(wait, ticket, request, lease)
        except BaseException:
            if lease is not None:
                self._give_back_lease(model_id, lease)
            raise
        finally:
            self._leave(wait, ticket)
        if self._ledger is not None:
            self._ledger.record_wait(model_id, max(0.0, self._clock.now() - started))
        return permit

    def _turn(self, wait: _Wait) -> int:
        """Join the queue and wait until it is this call's turn; returns its ticket."""
        now = self._clock.now()
        if now >= wait.deadline:
            self._timed_out(wait, "its turn")
        ticket = self._queue.join(wait.key, now)
        joined = now
        first_ahead: int | None = None
        try:
            while True:
                ahead = self._queue.ahead(wait.key, ticket, now)
                if ahead == 0:
                    return ticket
                if now >= wait.deadline:
                    self._timed_out(wait, f"its turn ({ahead} call(s) ahead)")
                first_ahead = first_ahead or ahead
                self._clock.sleep(min(self._nap(ahead, first_ahead, now - joined), wait.deadline - now))
                now = self._clock.now()
        except BaseException:
            self._leave(wait, ticket)
            raise

    def _nap(self, ahead: int, first_ahead: int, waited: float) -> float:
        """How long a waiter `ahead` of the head sleeps before it looks again: half the time its turn
        is still expected to take at the pace the queue moved so far (`poll_s` x `ahead` before it
        moved), between `poll_s` and a second. About two looks per call served ahead of it."""
        moved = first_ahead - ahead
        expected = self._poll_s * ahead if moved <= 0 else ahead * waited / moved
        return max(self._poll_s, min(_LONGEST_NAP_S, expected / 2))

    def _leave(self, wait: _Wait, ticket: int) -> None:
        """Leave the queue. Never raises: a queue we cannot write (store down) passes over a silent
        head by itself (`DynamoDBTicketQueue.stall_s`), and this call's own outcome must come through."""
        try:
            self._queue.leave(wait.key, ticket, self._clock.now())
        except JudgeError:
            logger.exception("ticket %d of %s not handed on; the queue passes it over", ticket, wait.model_id)

    def _lease(self, wait: _Wait, ticket: int) -> Lease:
        """An in-flight slot, tried by the head of the queue until the deadline, with doubling
        backoff, and at once when this process gives a slot back."""
        first, longest = self._lease_backoff_s
        attempt = 0
        while True:
            with self._lock:
                seen = self._freed.get(wait.model_id, 0)
            now = self._clock.now()
            lease = self._leases.try_acquire(wait.key, wait.limits.max_in_flight, now)
            if lease is not None:
                return lease
            now = self._clock.now()
            if now >= wait.deadline:
                self._timed_out(wait, "a shared in-flight slot" if self._shared else "an in-flight slot")
            nap = min(longest, first * 2.0 ** min(attempt, 30))  # 2.0 ** 1100 would overflow a float
            attempt += 1
            self._nap_until_freed(wait.model_id, seen, min(now + nap, wait.deadline))
            self._queue.keep(wait.key, ticket, self._clock.now())

    def _nap_until_freed(self, model_id: str, seen: int, until: float) -> None:
        """Sleep until `until`, in `poll_s` steps, or until this process frees a slot."""
        while True:
            now = self._clock.now()
            if now >= until:
                return
            with self._lock:
                if self._freed.get(model_id, 0) != seen:
                    return
            self._clock.sleep(min(self._poll_s, until - now))

    def _reserve(self, wait: _Wait, ticket: int, request: JudgeRequest, lease: Lease) -> Permit:
        """Reserve the call's quota tokens (the head waits for them in the bucket)."""
        model_id, limits = wait.model_id, wait.limits
        chars = request_chars(request)
        input_estimate = estimate_input_tokens(request, self.chars_per_token(model_id))
        burn = limits.burn_factor if limits.burn_factor is not None else default_burn_factor(model_id)
        cost = input_estimate + burn * request.max_tokens
        now = self._clock.now()
        while limits.token_limited:
            needed = self._store.try_take(wait.key, cost, limits, now)
            if needed == 0.0:
                break
            if now + needed > wait.deadline:
                self._timed_out(wait, f"{cost:.0f} quota tokens")
            self._clock.sleep(min(needed, _LONGEST_NAP_S))
            now = self._clock.now()
            self._queue.keep(wait.key, ticket, now)
        return Permit(model_id, cost, input_estimate, burn, charged_at=now, chars=chars, lease=lease)

    def _give_back_lease(self, model_id: str, lease: Lease) -> None:
        """Free a slot. Never raises: a slot we cannot free (store down) frees itself when its
        lease expires, and the call's own outcome (verdict or error) must come through."""
        try:
            released = self._leases.release(self._key_prefix + model_id, lease)
        except JudgeError:
            logger.exception(
                "in-flight lease of %s slot %d not released; it expires by itself", model_id, lease.slot
            )
            return
        if released:
            with self._lock:
                self._freed[model_id] = self._freed.get(model_id, 0) + 1
            return
        logger.warning(
            "in-flight lease of %s slot %d had expired and was taken over; the call outlived lease_ttl_s",
            model_id,
            lease.slot,
        )

    def _timed_out(self, wait: _Wait, what: str) -> NoReturn:
        if wait.by_caller:
            raise JudgeError(
                DEADLINE_EXCEEDED,
                f"no judge capacity ({what}) for {wait.model_id} before the caller's deadline",
                retryable=False,
            )
        raise JudgeError(
            "ThrottlingException",
            f"no judge capacity ({what}) for {wait.model_id} within {wait.limits.acquire_timeout_s:.0f}s",
            retryable=False,
        )

    def chars_per_token(self, model_id: str) -> float:
        """The ratio used for input estimates: 90 % of what was observed, never above 3.5."""
        with self._lock:
            observed = self._chars_per_token.get(model_id)
        if observed is None:
            return DEFAULT_CHARS_PER_TOKEN
        return max(0.5, min(DEFAULT_CHARS_PER_TOKEN, 0.9 * observed))

    def _observe_input(self, permit: Permit, input_tokens: int) -> None:
        if input_tokens <= 0 or permit.chars <= 0:
            return
        ratio = permit.chars / input_tokens
        with self._lock:
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
            if permit.lease is not None:
                self._give_back_lease(permit.model_id, permit.lease)

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
        status["inFlightScope"] = "shared" if self._shared else "process"
        status["inFlight"] = self._leases.busy(self._key_prefix + model_id, limits.max_in_flight, now)
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
